"""Agent-store fixtures: the durable-agent tests run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import structlog


@pytest.fixture(autouse=True)
def _captured_logs() -> Iterator[None]:
    """Failures are logged with their traceback; captured, they cost nothing to render. Tests that check
    a log line open their own ``capture_logs()``."""
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def pg_agents_url(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL, with this test's tables in a fresh schema dropped afterwards."""
    import psycopg

    schema = f"agents_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
