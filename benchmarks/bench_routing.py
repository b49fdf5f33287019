"""What routing adds to a call: a model with 8 deployments against the same model plain, in µs per call.

Calls go to the offline ``local`` provider (no network: the figure is the
runtime's own work), in the same run and in alternating rounds so that
machine noise hits every contender alike. Time is this process's CPU time
(``time.process_time``), the best of the rounds: on a shared machine, wall
time mostly measures the other processes.

- plain: a model with one provider;
- routed: the same model with 8 deployments (weighted shuffle), each on its
  own provider: the ordering, the deployment's guard and breaker, the
  in-flight count and latency average, the per-deployment metrics;
- routed + rpm: the same with an rpm on every deployment, held on the
  policy's memory backend (one more check-and-hold and settle per call).

Goal (issue 12): routed adds under 10 µs per call. Then the ordering alone,
per strategy, at 8 deployments. Prints a report; asserts nothing.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path
from random import Random
from typing import Any

from agentrt import Runtime
from agentrt.config import Config
from agentrt.models import ModelCatalog
from agentrt.routing import Router

CALLS = 400
ROUNDS = 30
DEPLOYMENTS = 8


def config(tmp: Path) -> dict[str, Any]:
    providers = {f"p{i}": {"kind": "local"} for i in range(DEPLOYMENTS)}
    deployments = [{"provider": f"p{i}", "name": "local-x", "weight": i + 1} for i in range(DEPLOYMENTS)]
    limited = [{**d, "rpm": 1_000_000_000} for d in deployments]
    return {
        "logging": {"console": {"format": "off"}, "file": {"path": str(tmp / "log.jsonl")}},
        "store": {"url": f"sqlite:///{tmp / 'bench.db'}"},
        "providers": providers,
        "models": {
            "plain": {"provider": "p0", "name": "local-x"},
            "routed": {"deployments": deployments},
            "limited": {"deployments": limited},
        },
        "policies": {"backend": "memory"},
    }


async def per_call_us(rt: Runtime, model: str) -> float:
    generate = rt.generate
    started = time.process_time()
    for _ in range(CALLS):
        await generate(model, "hello")
    return (time.process_time() - started) / CALLS * 1e6


async def calls() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Runtime.open(config(Path(tmp)), plugins=False) as rt:
            for model in ("plain", "routed", "limited"):  # warm up: imports, first connections, caches
                await per_call_us(rt, model)
            gc.collect()
            gc.freeze()  # the runtime's own objects: not what a call costs
            results: dict[str, list[float]] = {"plain": [], "routed": [], "limited": []}
            for _ in range(ROUNDS):
                for model in results:
                    results[model].append(await per_call_us(rt, model))
    plain, routed, limited = (min(results[name]) for name in ("plain", "routed", "limited"))
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"rt.generate, local provider, CPU time, best of {ROUNDS} rounds of {CALLS} calls (medians in brackets):")
    print(f"  plain model            {plain:8.1f} µs/call  ({medians['plain']:.1f})")
    print(
        f"  {DEPLOYMENTS} deployments (shuffle) {routed:8.1f} µs/call  ({medians['routed']:.1f})"
        f"   routing adds {routed - plain:+.1f} µs"
    )
    print(
        f"  {DEPLOYMENTS} deployments + rpm     {limited:8.1f} µs/call  ({medians['limited']:.1f})"
        f"   routing and the rpm hold add {limited - plain:+.1f} µs"
    )
    print(f"  goal: routing adds < 10 µs per call at {DEPLOYMENTS} deployments")


def ordering() -> None:
    providers = {f"p{i}": {"kind": "local"} for i in range(DEPLOYMENTS)}
    print(f"Router.order alone, {DEPLOYMENTS} deployments:")
    for strategy in ("shuffle", "least-busy", "latency", "usage", "cost"):
        deployments = [
            {"provider": f"p{i}", "name": "x", "weight": i + 1, "pricing": {"input": i, "output": i}}
            for i in range(DEPLOYMENTS)
        ]
        section = {"deployments": deployments, "routing": {"strategy": strategy}}
        parsed = Config.model_validate({"providers": providers, "models": {"m": section}})
        spec = ModelCatalog(parsed.models, parsed.providers, price_lookup=None).resolve("m")
        router = Router(rng=Random(1))
        count = 100_000
        order = router.order
        if strategy == "usage":
            router._refreshed[spec.name] = float("inf")  # no background refresh: the ordering is measured
        started = time.perf_counter()
        for _ in range(count):
            order(spec)
        print(f"  {strategy:<11} {(time.perf_counter() - started) / count * 1e6:6.2f} µs")


if __name__ == "__main__":
    ordering()
    asyncio.run(calls())
