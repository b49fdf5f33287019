"""Retention: the ledger and the audit trail drop rows older than ``store.retention``, in small batches.

The ledger grows by one row per call (about 288 bytes with the audit row):
some 6 GB a day at 250 calls a second. With ``store.retention.ledger`` set,
ledger rows past that age are first added to the daily rollup
(:data:`ROLLUP_TABLE`: calls, failures, tokens and cost per UTC day, tenant,
user, model and provider), then deleted, in the same transaction: usage
reports (``agentrt usage``) read the rollup for the pruned range, so totals
never change when rows go. Audit rows past ``store.retention.audit`` are
deleted.

Each statement touches at most ``batch_size`` rows (one short transaction,
then the event loop and other writers get their turn), and a
:class:`Pruner` runs it in the background every ``store.retention.every``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from agentrt.store._base import Store

__all__ = ["ROLLUP_MIGRATION", "ROLLUP_TABLE", "Pruner", "prune_audit", "prune_ledger"]

ROLLUP_TABLE: Final = "agentrt_usage_daily"

ROLLUP_MIGRATION: Final = f"""CREATE TABLE {ROLLUP_TABLE} (
    day TEXT NOT NULL,
    tenant TEXT NOT NULL,
    user_name TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    calls BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    unpriced BIGINT NOT NULL,
    PRIMARY KEY (day, tenant, user_name, model, provider)
)"""
"""The rollup of pruned ledger rows. A missing tenant or user is '' (a key column cannot be NULL)."""

DAY_OF_TS: Final = {
    "sqlite": "strftime('%Y-%m-%d', ts, 'unixepoch')",
    "postgresql": "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
}
"""The UTC day (``YYYY-MM-DD``) of a ledger row's ``ts``, per dialect."""

_PAUSE = 0.01  # seconds between two batches: other writers of the store get their turn

_log = structlog.get_logger("agentrt.store")


def _rollup_sql(dialect: str, marks: str) -> str:
    return (
        f"INSERT INTO {ROLLUP_TABLE} (day, tenant, user_name, model, provider, calls, failures, input_tokens, "
        "output_tokens, cost, unpriced) "
        f"SELECT {DAY_OF_TS[dialect]}, COALESCE(tenant, ''), COALESCE(user_name, ''), model, provider, COUNT(*), "
        "SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END), SUM(input_tokens), SUM(output_tokens), "
        "COALESCE(SUM(cost), 0), SUM(CASE WHEN cost IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) "
        f"FROM agentrt_usage WHERE id IN ({marks}) GROUP BY 1, 2, 3, 4, 5 "
        "ON CONFLICT (day, tenant, user_name, model, provider) DO UPDATE SET "
        f"calls = {ROLLUP_TABLE}.calls + excluded.calls, "
        f"failures = {ROLLUP_TABLE}.failures + excluded.failures, "
        f"input_tokens = {ROLLUP_TABLE}.input_tokens + excluded.input_tokens, "
        f"output_tokens = {ROLLUP_TABLE}.output_tokens + excluded.output_tokens, "
        f"cost = {ROLLUP_TABLE}.cost + excluded.cost, "
        f"unpriced = {ROLLUP_TABLE}.unpriced + excluded.unpriced"
    )


async def prune_ledger(store: Store, before: float, *, batch_size: int = 1000, pause: float = _PAUSE) -> int:
    """Roll up, then delete, the ledger rows with ``ts < before``; return how many went."""
    total = 0
    while True:
        async with store.transaction() as tx:
            ids = [
                row[0]
                for row in await tx.fetchall(
                    "SELECT id FROM agentrt_usage WHERE ts < ? ORDER BY ts, id LIMIT ?", (before, batch_size)
                )
            ]
            if ids:
                marks = ", ".join("?" * len(ids))
                await tx.execute(_rollup_sql(store.dialect, marks), ids)
                await tx.execute(f"DELETE FROM agentrt_usage WHERE id IN ({marks})", ids)
        total += len(ids)
        if len(ids) < batch_size:
            return total
        await asyncio.sleep(pause)


async def prune_audit(store: Store, before: float, *, batch_size: int = 1000, pause: float = _PAUSE) -> int:
    """Delete the audit rows with ``ts < before``; return how many went."""
    total = 0
    while True:
        deleted = await store.execute(
            "DELETE FROM agentrt_audit WHERE id IN (SELECT id FROM agentrt_audit WHERE ts < ? ORDER BY ts, id LIMIT ?)",
            (before, batch_size),
        )
        total += max(deleted, 0)
        if deleted < batch_size:
            return total
        await asyncio.sleep(pause)


class Pruner:
    """Runs ``prune(before)`` in the background: at start, then every ``every`` seconds.

    ``before`` is ``clock() - keep``. A failing run is logged and tried again
    at the next one; ``close()`` stops it (waiting for a batch in progress).
    """

    def __init__(
        self,
        name: str,
        prune: Callable[[float], Awaitable[int]],
        *,
        keep: float,
        every: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.keep = keep
        self.every = every
        self.pruned = 0
        """Rows pruned since start."""
        self._prune = prune
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._ran = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"agentrt-{self.name}-retention")

    async def run_once(self) -> int:
        """Prune now; return how many rows went."""
        before = self._clock() - self.keep
        pruned = await self._prune(before)
        self.pruned += pruned
        if pruned:
            _log.info("store_rows_pruned", table=self.name, rows=pruned, older_than_s=self.keep)
        return pruned

    async def wait_for_a_run(self) -> None:
        """Wait until the background task has finished one run (for tests and the CLI)."""
        await self._ran.wait()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception as err:  # the store may be down for a while: retried at the next run
                _log.error(
                    "store_prune_failed",
                    table=self.name,
                    error=f"{type(err).__name__}: {err}",
                    next_step=f"retried in {self.every:g} s",
                )
            self._ran.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every):
                    await self._stop.wait()

    async def close(self) -> None:
        """Stop; a batch in progress is rolled back (its rows stay, for the next start)."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
