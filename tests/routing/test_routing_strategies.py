"""Each strategy orders a model's deployments as it says, with ties shared by weight (seeded RNG)."""

from __future__ import annotations

import asyncio
from collections import Counter
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st
from routing_support import model_with

from agentrt.routing import DeploymentStats, Router, order_deployments

THREE = [{"provider": "a", "name": "x"}, {"provider": "b", "name": "y"}, {"provider": "c", "name": "z"}]


def labels(specs: list) -> list[str]:  # type: ignore[type-arg]
    return [spec.deployment.label for spec in specs]


def test_a_plain_model_is_its_own_one_candidate() -> None:
    spec = model_with([])
    assert not spec.deployments
    assert Router().order(spec) == [spec]


def test_the_catalog_gives_each_deployment_its_provider_name_and_key() -> None:
    spec = model_with([{"provider": "a", "name": "x", "rpm": 5, "tags": {"region": "eu"}}, {"provider": "b"}])
    first, second = spec.deployments
    assert (first.name, first.provider, first.provider_model) == ("m", "a", "x")
    assert first.deployment is not None
    assert (first.deployment.label, first.deployment.rpm, first.deployment.tags) == ("a/x", 5, (("region", "eu"),))
    assert first.deployment.key == "deployment:m:a/x"
    assert (second.provider, second.provider_model) == ("b", "m")  # no name: the model's own


def test_shuffle_puts_each_deployment_first_in_proportion_to_its_weight() -> None:
    spec = model_with([{"provider": "a", "weight": 1}, {"provider": "b", "weight": 3}, {"provider": "c", "weight": 6}])
    rng, stats = Random(1234), DeploymentStats()
    firsts = Counter(order_deployments("shuffle", spec.deployments, stats, rng)[0].provider for _ in range(20_000))
    assert abs(firsts["a"] / 20_000 - 0.1) < 0.015
    assert abs(firsts["b"] / 20_000 - 0.3) < 0.015
    assert abs(firsts["c"] / 20_000 - 0.6) < 0.015


def test_shuffle_is_reproducible_with_a_seed() -> None:
    spec = model_with(THREE)
    first = [labels(order_deployments("shuffle", spec.deployments, DeploymentStats(), Random(7))) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    assert sorted(first[0]) == ["a/x", "b/y", "c/z"]  # every deployment, once


def test_least_busy_goes_to_the_fewest_calls_in_flight() -> None:
    spec = model_with(THREE, "least-busy")
    stats = DeploymentStats()
    for label, busy in (("a/x", 3), ("b/y", 0), ("c/z", 1)):
        stats.get(f"deployment:m:{label}").in_flight = busy
    assert labels(order_deployments("least-busy", spec.deployments, stats, Random(0))) == ["b/y", "c/z", "a/x"]


def test_least_busy_shares_ties_by_weight() -> None:
    spec = model_with([{"provider": "a", "weight": 1}, {"provider": "b", "weight": 1}], "least-busy")
    rng, stats = Random(99), DeploymentStats()
    firsts = Counter(order_deployments("least-busy", spec.deployments, stats, rng)[0].provider for _ in range(4000))
    assert 1800 < firsts["a"] < 2200


def test_latency_goes_to_the_fastest_average_and_measures_a_new_one_first() -> None:
    spec = model_with(THREE, "latency")
    stats = DeploymentStats()
    stats.get("deployment:m:a/x").observe(0.5)
    stats.get("deployment:m:b/y").observe(0.1)
    # c/z has no sample yet: it is tried first, so that it gets one.
    assert labels(order_deployments("latency", spec.deployments, stats, Random(0))) == ["c/z", "b/y", "a/x"]


def test_the_latency_average_moves_towards_new_samples() -> None:
    stats = DeploymentStats()
    state = stats.get("k")
    state.observe(1.0)
    state.observe(0.0)
    assert state.latency == 0.7  # 1.0 + 0.3 * (0.0 - 1.0)


def test_usage_goes_to_the_most_left() -> None:
    spec = model_with(THREE, "usage")
    stats = DeploymentStats()
    for label, left in (("a/x", 0.5), ("b/y", 0.9), ("c/z", 0.1)):
        stats.get(f"deployment:m:{label}").left = left
    assert labels(order_deployments("usage", spec.deployments, stats, Random(0))) == ["b/y", "a/x", "c/z"]


async def test_usage_reads_what_is_left_from_the_backend_counters() -> None:
    spec = model_with([{"provider": "a", "rpm": 4}, {"provider": "b", "rpm": 4}], "usage")
    router = Router(rng=Random(0))
    a, b = spec.deployments
    for _ in range(3):
        await router.limits.hold(a, 10, None, "generate")
    await router.limits.hold(b, 10, None, "generate")
    await router.refresh_usage(spec)
    assert router.stats.get("deployment:m:a/m").left == 0.25
    assert router.stats.get("deployment:m:b/m").left == 0.75
    assert labels(router.order(spec)) == ["b/m", "a/m"]
    await router.close()


def test_cost_goes_to_the_cheapest_and_leaves_the_unpriced_last() -> None:
    spec = model_with(
        [
            {"provider": "a", "name": "x", "pricing": {"input": 5, "output": 15}},
            {"provider": "b", "name": "y"},
            {"provider": "c", "name": "z", "pricing": {"input": 1, "output": 2}},
        ],
        "cost",
    )
    assert labels(order_deployments("cost", spec.deployments, DeploymentStats(), Random(0))) == ["c/z", "a/x", "b/y"]


async def test_timed_calls_count_in_flight_while_they_run_and_feed_the_average() -> None:
    stats = DeploymentStats()
    release = asyncio.Event()

    async def call() -> str:
        await release.wait()
        return "ok"

    task = asyncio.ensure_future(stats.timed("k", call)())
    await asyncio.sleep(0)
    assert stats.get("k").in_flight == 1
    release.set()
    assert await task == "ok"
    assert stats.get("k").in_flight == 0
    assert stats.get("k").latency is not None


async def test_a_timed_stream_counts_until_it_ends() -> None:
    stats = DeploymentStats()

    async def events():  # type: ignore[no-untyped-def]
        yield 1
        yield 2

    stream = stats.timed_stream("k", events)()
    assert await anext(stream) == 1
    assert stats.get("k").in_flight == 1
    assert stats.get("k").latency is not None  # time to first event
    assert [e async for e in stream] == [2]
    assert stats.get("k").in_flight == 0


def test_the_routers_shuffle_draws_the_first_by_weight_and_the_rest_only_when_read() -> None:
    spec = model_with([{"provider": "a", "weight": 1}, {"provider": "b", "weight": 3}, {"provider": "c", "weight": 6}])
    router = Router(rng=Random(4321))
    firsts: Counter[str] = Counter()
    seconds_after_c: Counter[str] = Counter()
    for _ in range(20_000):
        order = router.order(spec)
        firsts[order[0].provider] += 1
        if order[0].provider == "c":
            seconds_after_c[order[1].provider] += 1
            assert sorted(s.provider for s in order) == ["a", "b", "c"]  # read whole: every deployment once
    assert abs(firsts["a"] / 20_000 - 0.1) < 0.015
    assert abs(firsts["c"] / 20_000 - 0.6) < 0.015
    # After c, b comes next 3 times in 4 (its weight among those left).
    assert abs(seconds_after_c["b"] / sum(seconds_after_c.values()) - 0.75) < 0.03


def test_a_reloaded_model_is_shuffled_with_its_new_weights() -> None:
    router = Router(rng=Random(5))
    before = model_with([{"provider": "a", "weight": 1}, {"provider": "b", "weight": 1000}])
    after = model_with([{"provider": "a", "weight": 1000}, {"provider": "b", "weight": 1}])
    assert Counter(router.order(before)[0].provider for _ in range(200))["b"] > 190
    assert Counter(router.order(after)[0].provider for _ in range(200))["a"] > 190


async def test_usage_reads_a_fresh_private_backend_without_a_hold_first() -> None:
    spec = model_with([{"provider": "a", "rpm": 4}, {"provider": "b", "tpm": 1000}], "usage")
    router = Router(rng=Random(0))
    await router.refresh_usage(spec)  # the private backend opens on first use, whatever the use
    assert [router.stats.get(d.deployment.key).left for d in spec.deployments] == [1.0, 1.0]  # type: ignore[union-attr]
    await router.close()


@settings(max_examples=150, deadline=None)
@given(
    weights=st.lists(st.floats(min_value=0.01, max_value=100), min_size=1, max_size=8),
    strategy=st.sampled_from(["shuffle", "least-busy", "latency", "usage", "cost"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_strategy_orders_each_deployment_exactly_once(weights: list[float], strategy: str, seed: int) -> None:
    spec = model_with(
        [{"provider": "abcdefgh"[i], "weight": w, "pricing": {"input": w, "output": 1}} for i, w in enumerate(weights)],
        strategy,
    )
    router = Router(rng=Random(seed))
    rng = Random(seed)
    for index, deployment in enumerate(spec.deployments):
        state = router.stats.get(deployment.deployment.key)  # type: ignore[union-attr]
        state.in_flight, state.left = rng.randint(0, 3), rng.random()
        if index % 2:
            state.observe(rng.random())
    order = list(router.order(spec))
    assert sorted(s.provider for s in order) == sorted(s.provider for s in spec.deployments)
