"""The audit trail's tool rows on every store: SQLite and PostgreSQL, next to model-call rows unchanged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agentrt.store import AuditRecord, AuditTrail, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    import psycopg

    postgres_url: str = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_tool_rows_and_model_rows_share_the_trail_and_filter_apart(store_url: str) -> None:
    model_row = AuditRecord(ts=1.0, request_id="r-1", user="alice", model="gpt", operation="generate", decision="allow")
    tool_row = AuditRecord(
        ts=2.0,
        request_id="r-1",
        user="alice",
        operation="tool",
        decision="approved",
        rule="deploys-need-a-yes",
        tool="ops.deploy",
        outcome="ok",
        duration_ms=12.5,
        detail='{"arguments":{"token":"[REDACTED]"},"approved_by":"bob"}',
    )
    async with open_store(store_url) as store, AuditTrail(store) as trail:
        trail.record(model_row)
        trail.record(tool_row)
        await trail.flush()
        both = await trail.query(request_id="r-1")
        tools = await trail.query(tool="ops.deploy")
        approved = await trail.query(decision="approved")
    assert [r.operation for r in both] == ["tool", "generate"]  # newest first
    assert tools == [tool_row]
    assert approved == [tool_row]
    assert both[1] == model_row  # a model-call row reads back as it always did (the new columns empty)
    with pytest.raises(ValueError, match="decision must be one of"):
        await trail.query(decision="maybe")  # type: ignore[arg-type]
