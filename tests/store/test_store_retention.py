"""Retention: old ledger rows are rolled up by day and pruned in small batches, usage reports read the
rollup for the pruned range (totals unchanged), old audit rows are pruned; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentrt.config import Config
from agentrt.services import ServiceContainer
from agentrt.store import AuditRecord, AuditTrail, Store, UsageLedger, UsageRecord, open_store
from agentrt.store.ledger import summarize_usage
from agentrt.store.retention import ROLLUP_TABLE, prune_audit, prune_ledger
from agentrt.store.service import audit_service, ledger_service, store_service

DAY = 86_400.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % DAY  # a UTC midnight


def call(ts: float, user: str | None, cost: float | None = 0.25, outcome: str = "ok") -> UsageRecord:
    return UsageRecord(
        ts=ts,
        user=user,
        tenant=None if user is None else "acme",
        model="m",
        provider="p",
        operation="generate",
        input_tokens=10,
        output_tokens=5,
        cost=cost,
        outcome=outcome,
    )


RECORDS = [
    call(T0 + 60, "alice"),
    call(T0 + 120, "alice", outcome="ProviderTimeout"),
    call(T0 + 180, "bob", cost=None),
    call(T0 + DAY + 60, "alice"),
    call(T0 + DAY + 120, None),
    call(T0 + 2 * DAY + 60, "bob"),
    call(T0 + 3 * DAY + 60, "alice"),
]


@pytest.fixture
async def ledger(store: Store) -> AsyncIterator[UsageLedger]:
    async with UsageLedger(store, flush_interval=30) as opened:
        for record in RECORDS:
            opened.record(record)
        await opened.flush()
        yield opened


async def reports(store: Store) -> dict[str, object]:
    return {
        by: await summarize_usage(store, by)  # type: ignore[arg-type]
        for by in (None, "user", "tenant", "model", "provider", "day")
    }


async def test_pruning_rolls_up_and_deletes_and_reports_do_not_change(store: Store, ledger: UsageLedger) -> None:
    before = await reports(store)
    ranged = await summarize_usage(store, "user", since=T0 + DAY, until=T0 + 3 * DAY)
    pruned = await prune_ledger(store, T0 + 2 * DAY, batch_size=2)  # 5 rows, in batches of 2
    assert pruned == 5
    remaining = await store.fetchall("SELECT ts FROM agentrt_usage ORDER BY ts")
    assert [row[0] for row in remaining] == [T0 + 2 * DAY + 60, T0 + 3 * DAY + 60]
    assert await reports(store) == before
    assert await summarize_usage(store, "user", since=T0 + DAY, until=T0 + 3 * DAY) == ranged
    days = await store.fetchall(f"SELECT day, SUM(calls) FROM {ROLLUP_TABLE} GROUP BY day ORDER BY day")
    assert [row[1] for row in days] == [3, 2]
    assert await prune_ledger(store, T0 + 2 * DAY) == 0  # nothing left that old


async def test_pruning_twice_into_the_same_day_adds_up(store: Store, ledger: UsageLedger) -> None:
    before = await reports(store)
    await prune_ledger(store, T0 + 150)  # the first two rows of day 0
    await prune_ledger(store, T0 + 4 * DAY)  # everything else, day 0's third row into the same rollup row
    assert await store.fetchall("SELECT COUNT(*) FROM agentrt_usage") == [(0,)]
    assert await reports(store) == before


async def test_audit_rows_older_than_the_cutoff_are_pruned_in_batches(store: Store) -> None:
    async with AuditTrail(store, flush_interval=30) as audit:
        for i in range(7):
            audit.record(AuditRecord(ts=T0 + i, request_id=f"r{i}", decision="allow"))
        await audit.flush()
        assert await prune_audit(store, T0 + 5, batch_size=2) == 5
        assert [r.request_id for r in await audit.query()] == ["r6", "r5"]


async def test_the_services_prune_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.db"
    now = time.time()

    async def seed() -> None:
        async with open_store(f"sqlite:///{path}") as store:
            async with UsageLedger(store) as ledger:
                ledger.record(call(now - 200 * DAY, "alice"))
            async with AuditTrail(store) as audit:
                audit.record(AuditRecord(ts=now - 200 * DAY, decision="deny"))

    await seed()
    config = Config.model_validate(
        {"store": {"url": f"sqlite:///{path}", "retention": {"ledger": "90d", "audit": "30d", "batch_size": 10}}}
    )
    container = ServiceContainer()
    container.provide(Config, config, name="config")
    for definition in (store_service, ledger_service, audit_service):
        container.register(definition)
    await container.start()
    try:
        ledger, audit = container.get(UsageLedger), container.get(AuditTrail)
        assert ledger.pruner is not None
        assert audit.pruner is not None
        await asyncio.wait_for(ledger.pruner.wait_for_a_run(), 10)
        await asyncio.wait_for(audit.pruner.wait_for_a_run(), 10)
        assert (ledger.pruner.pruned, audit.pruner.pruned) == (1, 1)
    finally:
        await container.stop()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM agentrt_usage").fetchone() == (0,)
        assert conn.execute(f"SELECT SUM(calls) FROM {ROLLUP_TABLE}").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM agentrt_audit").fetchone() == (0,)


def test_retention_must_be_a_positive_age() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must be longer than 0s"):
        Config.model_validate({"store": {"retention": {"ledger": "0s"}}})
