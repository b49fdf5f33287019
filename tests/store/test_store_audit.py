"""The audit trail of policy decisions, on every dialect: the same batching as the ledger, read newest first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from agentrt.store import AuditRecord, AuditTrail, Store

T0 = 1_800_000_000.0


@pytest.fixture
async def audit(store: Store) -> AsyncIterator[AuditTrail]:
    async with AuditTrail(store, flush_interval=30) as opened:
        yield opened


def decision(ts: float, decision: Any = "allow", user: str = "alice", **fields: Any) -> AuditRecord:
    return AuditRecord(
        ts=ts, user=user, tenant="acme", model="small", operation="generate", decision=decision, **fields
    )


async def test_every_field_round_trips(audit: AuditTrail) -> None:
    record = AuditRecord(
        ts=T0,
        request_id="req-9",
        user="intern",
        tenant="interns",
        api_key="ci",
        model="gpt-5",
        operation="stream",
        decision="deny",
        rule="no-big-models-for-interns",
        reason="interns use the small models",
        limit=None,
    )
    audit.record(record)
    assert await audit.flush() == 1
    assert await audit.query() == [record]


async def test_query_filters_newest_first_with_a_limit(audit: AuditTrail) -> None:
    audit.record(decision(T0, "allow", "alice"))
    audit.record(decision(T0 + 1, "deny", "alice", rule="r", limit="user rpm 60"))
    audit.record(decision(T0 + 2, "deny", "bob", reason="budget"))
    audit.record(decision(T0 + 3, "allow", "bob"))
    await audit.flush()
    assert [r.ts for r in await audit.query()] == [T0 + 3, T0 + 2, T0 + 1, T0]
    assert [r.ts for r in await audit.query(decision="deny")] == [T0 + 2, T0 + 1]
    assert [r.ts for r in await audit.query(user="alice")] == [T0 + 1, T0]
    assert [r.ts for r in await audit.query(since=T0 + 2)] == [T0 + 3, T0 + 2]
    assert [r.ts for r in await audit.query(limit=1)] == [T0 + 3]
    denied = await audit.query(decision="deny", user="alice")
    assert [(r.rule, r.limit) for r in denied] == [("r", "user rpm 60")]


async def test_an_invalid_decision_is_dropped_alone_and_logged(audit: AuditTrail) -> None:
    audit.record(decision(T0, "allow"))
    audit.record(decision(T0 + 1, "maybe"))
    with capture_logs() as logs:
        assert await audit.flush() == 1
    assert [entry["event"] for entry in logs] == ["store_record_rejected"]
    with pytest.raises(ValueError, match="decision"):
        await audit.query(decision="maybe")  # type: ignore[arg-type]


async def test_close_writes_every_queued_decision(store: Store) -> None:
    trail = AuditTrail(store, flush_interval=3600)
    await trail.start()
    for i in range(300):
        trail.record(decision(T0 + i))
    await trail.close()
    assert await store.fetchone("SELECT COUNT(*) FROM agentrt_audit") == (300,)


async def test_query_filters_by_time_range_tenant_model_and_request_id(audit: AuditTrail) -> None:
    audit.record(decision(T0, request_id="a"))
    audit.record(AuditRecord(ts=T0 + 1, request_id="b", tenant="globex", model="small", decision="allow"))
    audit.record(AuditRecord(ts=T0 + 2, request_id="c", tenant="acme", model="big", decision="allow"))
    await audit.flush()

    async def ids(**filters: Any) -> list[str | None]:
        return [record.request_id for record in await audit.query(**filters)]

    assert await ids(until=T0 + 1) == ["a"]
    assert await ids(since=T0 + 1, until=T0 + 2) == ["b"]
    assert await ids(tenant="globex") == ["b"]
    assert await ids(model="big") == ["c"]
    assert await ids(request_id="a") == ["a"]
