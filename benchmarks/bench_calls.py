"""The cost agentrt adds to a model call, against a raw aiohttp call and the official openai SDK.

A FakeUpstream runs in its own process (as a real provider would be elsewhere)
and answers OpenAI chat completions. Measured in the same run, in alternating
rounds so that machine noise hits every contender alike:

- raw aiohttp: one shared session, orjson, no checks: the floor;
- the official ``openai`` SDK (AsyncOpenAI, retries off);
- ``rt.generate``: catalog, capability check, policy hook, guard (breaker,
  limit, timeout), cost, Prometheus metrics and one JSON log line to a rotated
  file, all on.

Goal (issue 3): ``rt.generate`` within 1.5x the floor and faster than the SDK.
Then calls per second with 64 calls in flight.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson

SEQUENTIAL_CALLS = 1500
ROUNDS = 5
CONCURRENT_CALLS = 4000
IN_FLIGHT = 64
BODY = {"model": "gpt-bench", "messages": [{"role": "user", "content": "Say hello in five words."}]}


def start_upstream() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        # Lenient: checking each body against the SDK types would slow the floor that agentrt is measured against.
        [sys.executable, "-m", "agentrt.testing.fake_upstream", "--port", "0", "--api-key", "sk-bench", "--lenient"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the fake upstream did not start: {url!r}")
    return proc, url


async def per_call_us(call: Callable[[], Awaitable[Any]], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await call()
    return (time.perf_counter() - started) / count * 1e6


async def calls_per_second(call: Callable[[], Awaitable[Any]], total: int, in_flight: int) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return total / (time.perf_counter() - started)


async def main() -> None:
    from openai import AsyncOpenAI

    from agentrt import Runtime

    proc, url = start_upstream()
    workdir = Path(tempfile.mkdtemp(prefix="agentrt-bench-"))
    try:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=IN_FLIGHT), json_serialize=lambda o: orjson.dumps(o).decode()
        )
        headers = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}
        payload = orjson.dumps(BODY)

        async def raw() -> str:
            async with session.post(f"{url}/v1/chat/completions", data=payload, headers=headers) as response:
                body = orjson.loads(await response.read())
                return str(body["choices"][0]["message"]["content"])

        sdk = AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-bench", max_retries=0)

        async def via_sdk() -> str:
            result = await sdk.chat.completions.create(model="gpt-bench", messages=BODY["messages"])  # type: ignore[arg-type]
            return result.choices[0].message.content or ""

        config = {
            "logging": {
                "level": "info",
                "console": {"format": "off"},
                "file": {"path": str(workdir / "agentrt.jsonl"), "rotate": {"max_bytes": "50MB", "backups": 2}},
            },
            "providers": {"bench": {"kind": "openai", "api_key": "sk-bench", "base_url": f"{url}/v1"}},
            "models": {
                "gpt-bench": {"provider": "bench", "pricing": {"input": 0.15, "output": 0.6}, "aliases": ["default"]}
            },
            "observability": {"metrics": {"enabled": True}},
        }
        async with Runtime.open(config, plugins=False) as rt:

            async def via_runtime() -> str:
                completion = await rt.generate("default", "Say hello in five words.", user="bench")
                return completion.text

            contenders = {"raw aiohttp (floor)": raw, "openai SDK": via_sdk, "rt.generate": via_runtime}
            for call in contenders.values():  # warm up connections, caches, code paths
                await per_call_us(call, 200)
            samples: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(ROUNDS):
                for name, call in contenders.items():
                    samples[name].append(await per_call_us(call, SEQUENTIAL_CALLS // ROUNDS))
            medians = {name: statistics.median(values) for name, values in samples.items()}
            floor = medians["raw aiohttp (floor)"]
            print(f"sequential calls to a loopback fake upstream (median of {ROUNDS} rounds):")
            for name, us in medians.items():
                print(f"  {name:22s} {us:8.0f} µs/call  {us / floor:5.2f}x floor")
            ours = medians["rt.generate"]
            met = ours <= 1.5 * floor and ours < medians["openai SDK"]
            print(
                f"  agentrt adds {ours - floor:.0f} µs per call; "
                f"goal (<= 1.50x floor and faster than the SDK): {'met' if met else 'NOT MET'}"
            )

            print(f"calls per second with {IN_FLIGHT} in flight ({CONCURRENT_CALLS} calls):")
            for name, call in contenders.items():
                rate = await calls_per_second(call, CONCURRENT_CALLS, IN_FLIGHT)
                print(f"  {name:22s} {rate:8.0f} calls/s")
            rt.logging.flush()
            lines = sum(1 for _ in (workdir / "agentrt.jsonl").open("rb"))
            print(f"  (the runtime wrote {lines} log lines: one per call, as in production)")
        await sdk.close()
        await session.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    os.environ.pop("AGENTRT_CONFIG", None)
    asyncio.run(main())
