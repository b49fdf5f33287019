"""Store fixtures: the same tests run on a SQLite file, SQLite in memory and a real PostgreSQL.

Each PostgreSQL test gets a schema of its own (``search_path`` set in the URL),
so tests never see each other's tables and nothing needs cleaning between them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agentrt.store import Store, open_store

DIALECTS = ["sqlite-file", "sqlite-memory", "postgresql"]


@pytest.fixture
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL of the session's PostgreSQL whose tables land in a fresh schema, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=DIALECTS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL for each dialect; a SQLite file one is shared by every store opened on it in the test."""
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'store.db'}"
    if request.param == "sqlite-memory":
        return "memory://"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as opened:
        yield opened
