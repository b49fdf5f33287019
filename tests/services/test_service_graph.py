"""Invariants of the dependency graph, over random graphs (hypothesis)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.services import ServiceContainer, ServiceDefinition
from agentrt.services.graph import GraphNode, find_cycle


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, set[tuple[int, int]], list[int]]:
    """(size, edges (service, dependency) with dependency < service, a registration order)."""
    size = draw(st.integers(min_value=1, max_value=9))
    pairs = [(i, j) for i in range(size) for j in range(i)]
    edges = draw(st.sets(st.sampled_from(pairs), max_size=len(pairs))) if pairs else set()
    order = draw(st.permutations(range(size)))
    return size, edges, list(order)


@given(dags(), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_any_acyclic_graph_starts_in_dependency_order_and_stops_in_reverse(
    dag: tuple[int, set[tuple[int, int]], list[int]], rng: random.Random
) -> None:
    size, edges, order = dag
    delays = [rng.choice([0, 0, 0.001, 0.002]) for _ in range(size)]
    log: list[str] = []
    types = [type(f"S{i}", (), {}) for i in range(size)]
    needs = {i: sorted(j for (k, j) in edges if k == i) for i in range(size)}

    def definition(i: int) -> ServiceDefinition:
        async def factory(*deps: Any) -> AsyncIterator[Any]:
            log.append(f"begin {i}")
            await asyncio.sleep(delays[i])
            log.append(f"ready {i}")
            yield types[i]()
            await asyncio.sleep(delays[i])
            log.append(f"stop {i}")

        return ServiceDefinition(
            name=f"s{i}", provides=types[i], factory=factory, dependencies=tuple(types[j] for j in needs[i])
        )

    async def run() -> list[str]:
        container = ServiceContainer()
        for i in order:
            container.register(definition(i))
        async with container:
            return [info.name for info in container.info()]

    start_order = asyncio.run(run())

    ready = [int(e.split()[1]) for e in log if e.startswith("ready")]
    stopped = [int(e.split()[1]) for e in log if e.startswith("stop")]
    assert sorted(ready) == list(range(size))
    assert start_order == [f"s{i}" for i in ready]
    assert stopped == ready[::-1]
    for service, dep in edges:
        assert log.index(f"ready {dep}") < log.index(f"begin {service}")


@st.composite
def graphs(draw: st.DrawFn) -> dict[int, GraphNode]:
    size = draw(st.integers(min_value=1, max_value=8))
    edges = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)), max_size=16))
    return {i: GraphNode(f"n{i}", tuple(sorted({d for s, d in edges if s == i}))) for i in range(size)}


def acyclic(nodes: dict[int, GraphNode]) -> bool:
    """Kahn's algorithm: the graph is acyclic when every node can be peeled off."""
    remaining = {key: set(node.dependencies) for key, node in nodes.items()}
    while remaining:
        free = [key for key, deps in remaining.items() if not deps]
        if not free:
            return False
        for key in free:
            del remaining[key]
        for deps in remaining.values():
            deps.difference_update(free)
    return True


@given(graphs())
@settings(max_examples=200)
def test_find_cycle_finds_a_real_cycle_exactly_when_there_is_one(nodes: dict[int, GraphNode]) -> None:
    cycle = find_cycle(nodes)
    assert (cycle is None) == acyclic(nodes)
    if cycle is not None:
        assert cycle[0] == cycle[-1]
        by_name = {node.name: key for key, node in nodes.items()}
        for name, next_name in itertools.pairwise(cycle):
            assert by_name[next_name] in nodes[by_name[name]].dependencies
