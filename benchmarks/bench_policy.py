"""The cost of the policy on each call: ``admit`` + ``settle`` per backend, in µs.

A realistic policy (a rule, two rate limits, a token and a cost budget) over
100 users in 10 tenants. Measured in the same run:

- memory: one call at a time (goal < 20 µs);
- sqlite: one call at a time, and amortised with 64 calls in flight, where
  concurrent calls share a transaction (goal < 100 µs amortised); next to it,
  one bare transaction of the store, the floor a call at a time pays;
- redis: a redis-server of its own on a free port (skipped if the binary is
  missing); one call at a time against a bare PING round trip measured alike
  (goal: about one round trip, as a settle travels with the next admit), and
  amortised with 64 calls in flight.

Prints a report; asserts nothing.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentrt.calls import Admission
from agentrt.calls.principal import Principal
from agentrt.config import PoliciesSection
from agentrt.models import ModelSpec, Price
from agentrt.policy import PolicyBackend, PolicyEngine
from agentrt.policy.backends import MemoryBackend
from agentrt.types import Usage

SECTION = PoliciesSection.model_validate(
    {
        "backend": "memory",
        "rules": [{"name": "no-interns", "effect": "deny", "match": {"tenants": ["interns"]}}],
        "limits": [{"scope": "user", "rpm": 10**9, "tpm": 10**12}, {"scope": "tenant+model", "rpm": 10**9}],
        "budgets": [
            {"scope": "user", "period": "day", "max_tokens": 10**15},
            {"scope": "tenant", "period": "month", "max_cost": 10**6},
        ],
    }
)
MODEL = ModelSpec("gpt-4o-mini", "openai", "gpt-4o-mini", pricing=Price(0.15, 0.6))
PRINCIPALS = [Principal(f"user-{i}", f"tenant-{i % 10}") for i in range(100)]
USAGE = Usage(420, 180)
IN_FLIGHT = 64


async def one_call(engine: PolicyEngine, i: int) -> None:
    reservation = await engine.admit(Admission(PRINCIPALS[i % 100], "generate", MODEL, 500, 1000))
    await engine.settle(reservation, USAGE, None)


async def sequential_us(engine: PolicyEngine, calls: int) -> float:
    for i in range(min(calls // 10, 200)):  # warm the routes and the connections
        await one_call(engine, i)
    started = time.perf_counter()
    for i in range(calls):
        await one_call(engine, i)
    return (time.perf_counter() - started) / calls * 1e6


async def concurrent_us(engine: PolicyEngine, calls: int) -> float:
    queue = iter(range(calls))

    async def worker() -> None:
        for i in queue:
            await one_call(engine, i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return (time.perf_counter() - started) / calls * 1e6


async def measure(backend: PolicyBackend, calls: int, *, concurrent: int = 0) -> tuple[float, float | None]:
    async with PolicyEngine(SECTION, backend) as engine:
        seq = await sequential_us(engine, calls)
        con = await concurrent_us(engine, concurrent) if concurrent else None
        flush: Callable[[], Awaitable[None]] | None = getattr(backend, "flush", None)
        if flush is not None:
            await flush()
    return seq, con


async def bench_memory() -> None:
    seq, _ = await measure(MemoryBackend(), 30_000)
    print(f"memory   admit+settle, one call at a time:     {seq:8.1f} µs   (goal < 20 µs)")


async def bench_sqlite() -> None:
    from agentrt.policy.backends.sqlite import SqliteBackend
    from agentrt.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        async with open_store(f"sqlite:///{Path(tmp) / 'bench.db'}") as store:
            await store.execute("CREATE TABLE bench (k TEXT PRIMARY KEY, v BIGINT)")
            started = time.perf_counter()
            for _ in range(300):
                async with store.transaction() as tx:
                    await tx.execute("INSERT INTO bench VALUES ('a', 1) ON CONFLICT (k) DO UPDATE SET v = v + 1")
            floor = (time.perf_counter() - started) / 300 * 1e6
            seq, con = await measure(SqliteBackend(store), 600, concurrent=6000)
    assert con is not None
    print(f"sqlite   one bare store transaction (floor):    {floor:8.1f} µs")
    print(f"sqlite   admit+settle, one call at a time:     {seq:8.1f} µs   ({seq / floor:.2f}x the floor)")
    print(f"sqlite   admit+settle, {IN_FLIGHT} in flight, amortised:{con:8.1f} µs   (goal < 100 µs)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def ping_us(url: str, count: int) -> float:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        for _ in range(100):
            await client.ping()
        started = time.perf_counter()
        for _ in range(count):
            await client.ping()
        return (time.perf_counter() - started) / count * 1e6
    finally:
        await client.aclose()


async def script_stats(url: str, reset: bool = False) -> tuple[int, float]:
    """(EVALSHA calls, µs of script time per call) since the last reset, from INFO commandstats."""
    from redis.asyncio import Redis

    client = Redis.from_url(url, decode_responses=True)
    try:
        if reset:
            await client.config_resetstat()
            return 0, 0.0
        stats = (await client.info("commandstats")).get("cmdstat_evalsha", {"calls": 0, "usec_per_call": 0.0})
        return int(stats["calls"]), float(stats["usec_per_call"])
    finally:
        await client.aclose()


def start_redis(tmp: str) -> tuple[subprocess.Popen[Any], str] | None:
    """A redis-server of this benchmark on a free port, answering; None when the binary is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp]
    server: subprocess.Popen[Any] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    for _ in range(500):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
        except OSError:
            time.sleep(0.01)
    return server, f"redis://127.0.0.1:{port}/0"


async def bench_redis(url: str | None) -> None:
    if url is None:
        print("redis    skipped: redis-server is not installed (sudo apt-get install redis-server)")
        return
    from agentrt.policy.backends.redis import RedisBackend

    calls = 3000
    ping = await ping_us(url, 3000)
    async with PolicyEngine(SECTION, RedisBackend(url, key_prefix="bench:")) as engine:
        await sequential_us(engine, 300)  # warm up
        await script_stats(url, reset=True)
        seq = await sequential_us(engine, calls)
        scripts, script_us = await script_stats(url)
        con = await concurrent_us(engine, 10_000)
    rtt = (ping + await ping_us(url, 3000)) / 2
    per_call = scripts / (calls + min(calls // 10, 200))
    print(f"redis    bare PING round trip (redis-py):      {rtt:8.1f} µs")
    print(f"redis    admit+settle, one call at a time:     {seq:8.1f} µs   ({seq / rtt:.2f}x a PING; goal ≈ 1)")
    print(f"redis      of which round trips per call:      {per_call:8.2f}      (the settle rides with the next admit)")
    print(f"redis      of which script time in Redis:      {script_us:8.1f} µs per round trip")
    print(f"redis    admit+settle, {IN_FLIGHT} in flight, amortised:{con:8.1f} µs")


async def main(redis_url: str | None) -> None:
    print(f"policy: 1 rule, 2 rate limits, 2 budgets; 100 users in 10 tenants; Python {sys.version.split()[0]}")
    await bench_memory()
    await bench_sqlite()
    await bench_redis(redis_url)


if __name__ == "__main__":
    import logging

    import structlog

    # The report is the output: only warnings and errors of the parts measured, on stderr.
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    with tempfile.TemporaryDirectory() as workdir:
        started = start_redis(workdir)
        try:
            asyncio.run(main(started[1] if started else None))
        finally:
            if started is not None:
                started[0].terminate()
                started[0].wait()
