"""A call's ledger row is written only once its audit rows are: a crash can never leave a call in the ledger
without its decisions (and, with the ``sqlite`` policy backend, the ledger's write is what ends the call's
journal row, so recovery must not be left a call whose audit rows are still queued). On every dialect."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agentrt.config import Config
from agentrt.services import ServiceContainer
from agentrt.store import (
    AuditRecord,
    AuditTrail,
    Store,
    UsageLedger,
    UsageRecord,
    audit_service,
    ledger_service,
    store_service,
)


async def _decisions(store: Store, request_id: str) -> list[str]:
    rows = await store.fetchall("SELECT decision FROM agentrt_audit WHERE request_id = ? ORDER BY id", [request_id])
    return [str(decision) for (decision,) in rows]


async def _ledger_rows(store: Store, request_id: str) -> int:
    rows = await store.fetchall("SELECT COUNT(*) FROM agentrt_usage WHERE request_id = ?", [request_id])
    return int(rows[0][0])


async def test_writing_the_ledger_first_writes_the_audit_rows_queued_before_it(store: Store) -> None:
    async with (
        AuditTrail(store, flush_interval=30) as audit,
        UsageLedger(store, flush_interval=30, audit=audit) as ledger,
    ):
        audit.record(AuditRecord(request_id="r1", decision="deny", limit="budget"))
        audit.record(AuditRecord(request_id="r1", decision="allow"))
        ledger.record(UsageRecord(request_id="r1", model="m", provider="p", operation="generate", input_tokens=3))
        await ledger.flush()
        assert audit.writer.pending == 0
        assert await _decisions(store, "r1") == ["deny", "allow"]
        assert await _ledger_rows(store, "r1") == 1


async def test_the_ledgers_own_timer_also_writes_the_audit_rows_first(store: Store) -> None:
    async with (
        AuditTrail(store, flush_interval=30) as audit,
        UsageLedger(store, flush_interval=0.05, audit=audit) as ledger,
    ):
        audit.record(AuditRecord(request_id="r2", decision="allow"))
        ledger.record(UsageRecord(request_id="r2", model="m", provider="p", operation="generate"))
        for _ in range(200):
            if ledger.writer.pending == 0:
                break
            await asyncio.sleep(0.01)
        assert await _ledger_rows(store, "r2") == 1
        assert await _decisions(store, "r2") == ["allow"]


async def test_while_the_audit_rows_cannot_be_written_the_ledger_row_waits(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        AuditTrail(store, flush_interval=30) as audit,
        UsageLedger(store, flush_interval=30, audit=audit) as ledger,
    ):
        audit.record(AuditRecord(request_id="r3", decision="allow"))
        ledger.record(UsageRecord(request_id="r3", model="m", provider="p", operation="generate"))

        async def refuse(*_: Any) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(audit.writer, "_commit", refuse)
        with pytest.raises(OSError, match="disk full"):
            await ledger.flush()
        assert await _ledger_rows(store, "r3") == 0, "a ledger row was written before its audit row"
        assert ledger.writer.pending == 1  # kept, and written with its audit row once the store accepts
        monkeypatch.undo()
        await ledger.flush()
        assert (await _decisions(store, "r3"), await _ledger_rows(store, "r3")) == (["allow"], 1)


async def test_the_runtimes_ledger_waits_for_the_runtimes_audit_trail(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    container = ServiceContainer()
    container.provide(Config, Config.model_validate({"store": {"url": f"sqlite:///{path}"}}), name="config")
    for definition in (store_service, ledger_service, audit_service):
        container.register(definition)
    await container.start()
    try:
        container.get(AuditTrail).record(AuditRecord(request_id="r4", decision="allow"))
        ledger = container.get(UsageLedger)
        ledger.record(UsageRecord(request_id="r4", model="m", provider="p", operation="generate"))
        await ledger.flush()
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT decision FROM agentrt_audit WHERE request_id = 'r4'").fetchall() == [("allow",)]
    finally:
        await container.stop()


async def test_a_flush_of_the_audit_trail_during_the_ledgers_write_still_writes_everything_queued(
    store: Store,
) -> None:
    async with (
        AuditTrail(store, flush_interval=30) as audit,
        UsageLedger(store, flush_interval=30, audit=audit) as ledger,
    ):
        audit.record(AuditRecord(request_id="r5", decision="allow"))
        ledger.record(UsageRecord(request_id="r5", model="m", provider="p", operation="generate"))
        ledger_write = asyncio.ensure_future(ledger.flush())
        for _ in range(1000):  # until the ledger's write has started the audit rows' transaction
            if audit.writer._writing is not None:
                break
            await asyncio.sleep(0)
        assert audit.writer._writing is not None
        assert not audit.writer._writing.done()
        audit.record(AuditRecord(request_id="r6", decision="deny"))  # queued after the ledger's batch
        await audit.flush()
        assert audit.writer.pending == 0
        assert await _decisions(store, "r6") == ["deny"]
        await ledger_write
        assert (await _decisions(store, "r5"), await _ledger_rows(store, "r5")) == (["allow"], 1)
