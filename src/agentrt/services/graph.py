"""Checks of the dependency graph, done before anything starts.

Nodes are service keys (types); each has a name and the keys it depends on.
The container calls :func:`validate_graph` at the top of ``start()``, so a
missing dependency or a cycle fails fast and names the chain, and no service
has run any code yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentrt.errors import ServiceGraphError
from agentrt.services.definition import type_name

__all__ = ["GraphNode", "find_cycle", "find_missing", "validate_graph"]


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One service in the graph: its name and the keys of the services it needs."""

    name: str
    dependencies: tuple[Any, ...]


def find_missing(nodes: Mapping[Any, GraphNode]) -> list[tuple[str, Any]]:
    """Every (service name, missing key) pair, in registration and parameter order."""
    return [(node.name, dep) for node in nodes.values() for dep in node.dependencies if dep not in nodes]


def find_cycle(nodes: Mapping[Any, GraphNode]) -> list[str] | None:
    """The names along the first cycle found, closed (``[a, b, c, a]``), or None.

    Depth-first search in registration order, so the same graph always reports
    the same cycle; edges to missing keys are ignored (reported separately).
    """
    done: set[Any] = set()
    path: list[Any] = []
    on_path: dict[Any, int] = {}

    def visit(key: Any) -> list[str] | None:
        on_path[key] = len(path)
        path.append(key)
        for dep in nodes[key].dependencies:
            if dep not in nodes or dep in done:
                continue
            if dep in on_path:
                loop = [*path[on_path[dep] :], dep]
                return [nodes[k].name for k in loop]
            found = visit(dep)
            if found is not None:
                return found
        path.pop()
        del on_path[key]
        done.add(key)
        return None

    for key in nodes:
        if key not in done:
            found = visit(key)
            if found is not None:
                return found
    return None


def validate_graph(nodes: Mapping[Any, GraphNode]) -> None:
    """Raise :class:`ServiceGraphError` listing every missing dependency and the first cycle.

    ``chain`` on the error is the first problem's chain: ``[service, missing
    type]`` or the cycle's names.
    """
    problems: list[str] = []
    chains: list[Sequence[str]] = []
    for name, dep in find_missing(nodes):
        problems.append(f"missing: {name} needs {type_name(dep)}, which no service provides")
        chains.append((name, type_name(dep)))
    cycle = find_cycle(nodes)
    if cycle is not None:
        problems.append("cycle: " + " -> ".join(cycle))
        chains.append(cycle)
    if not problems:
        return
    registered = ", ".join(f"{type_name(key)} ({node.name})" for key, node in nodes.items()) or "nothing"
    message = "the services cannot start: " + "; ".join(problems) + f"; registered: {registered}"
    raise ServiceGraphError(message, chain=chains[0])
