"""Worker processes for the multi-process store tests: ``python store_workers.py MODE URL [ARGS]``.

Modes:
  migrate URL        open the store, print "ready", wait for a line on stdin (the start signal),
                     migrate, print the version
  increment URL N ID the same, then N read-modify-write transactions on a shared counter
  ledger URL         record usage rows forever, flushing every 10 ms (killed by the crash test)
"""

from __future__ import annotations

import asyncio
import sys

import structlog

from agentrt.store import UsageLedger, UsageRecord, open_store

MIGRATIONS = [
    "CREATE TABLE counter (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)",
    "INSERT INTO counter (id, n) VALUES (1, 0)",
    "CREATE TABLE increments (worker TEXT NOT NULL, seq BIGINT NOT NULL)",
    "UPDATE counter SET n = n + 1000",  # not idempotent: applied twice, it shows
]


def usage_row(i: int) -> UsageRecord:
    """The i-th row the ledger worker writes: every field derived from ``i``, so a test can check each."""
    return UsageRecord(
        ts=1_700_000_000.0 + i,
        request_id=f"req-{i}",
        user=f"user-{i % 5}",
        tenant="acme",
        api_key="ci-key",
        model="gpt-test",
        provider="local",
        operation="generate",
        input_tokens=i,
        output_tokens=2 * i,
        cached_tokens=i % 3,
        cost=i / 1000,
        latency=0.5,
        outcome="ok" if i % 7 else "ProviderTimeout",
        attempts=1 + i % 2,
    )


def ready_then_wait() -> None:
    """Tell the test this worker is ready, then wait for its start signal (a line on stdin)."""
    print("ready", flush=True)
    sys.stdin.readline()


async def migrate(url: str) -> None:
    async with open_store(url) as store:
        ready_then_wait()
        print(await store.migrate("workers", MIGRATIONS), flush=True)


async def increment(url: str, count: int, worker: str) -> None:
    async with open_store(url) as store:
        ready_then_wait()
        for seq in range(count):
            async with store.transaction() as tx:
                row = await tx.fetchone("SELECT n FROM counter WHERE id = 1")
                assert row is not None
                await tx.execute("UPDATE counter SET n = ? WHERE id = 1", (row[0] + 1,))
                await tx.execute("INSERT INTO increments (worker, seq) VALUES (?, ?)", (worker, seq))
    print("done", flush=True)


async def ledger(url: str) -> None:
    async with open_store(url) as store, UsageLedger(store, flush_interval=0.01, batch_size=64) as usage:
        print("started", flush=True)
        i = 0
        while True:
            usage.record(usage_row(i))
            i += 1
            if i % 16 == 0:
                await asyncio.sleep(0.001)


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout is for results
    mode, url, *rest = sys.argv[1:]
    if mode == "migrate":
        asyncio.run(migrate(url))
    elif mode == "increment":
        asyncio.run(increment(url, int(rest[0]), rest[1]))
    elif mode == "ledger":
        asyncio.run(ledger(url))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
