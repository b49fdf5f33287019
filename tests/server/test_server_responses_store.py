"""The stored responses' table on each dialect: SQLite, and a real PostgreSQL (each test in a schema of its own)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agentrt.store import open_store
from agentrt.store.responses import ResponseStore, StoredResponse, prune_responses


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
async def responses(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ResponseStore]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    async with open_store(url) as store:
        stored = ResponseStore(store)
        await stored.start()
        await stored.start()  # a second start (another process) migrates nothing
        try:
            yield stored
        finally:
            await stored.close()


CONVERSATION = [{"role": "user", "content": "héllo 🌤"}, {"role": "assistant", "content": "hi", "tool_calls": []}]


async def test_save_read_delete_per_owner(responses: ResponseStore) -> None:
    body = {"id": "resp_1", "output": [{"type": "message", "content": [{"text": "hi"}]}]}
    await responses.save(StoredResponse("resp_1", "tenant:acme", time.time(), "gpt-test", body, CONVERSATION))
    found = await responses.get("resp_1", "tenant:acme")
    assert found is not None
    assert (found.body, found.conversation, found.model) == (body, CONVERSATION, "gpt-test")
    assert await responses.get("resp_1", "tenant:globex") is None
    assert not await responses.delete("resp_1", "tenant:globex")
    assert await responses.delete("resp_1", "tenant:acme")
    assert await responses.get("resp_1", "tenant:acme") is None


async def test_prune_in_batches(responses: ResponseStore) -> None:
    for n in range(5):
        await responses.save(StoredResponse(f"resp_old{n}", "user:a", 1000.0 + n, "m", {}, []))
    await responses.save(StoredResponse("resp_new", "user:a", time.time(), "m", {}, []))
    assert await prune_responses(responses.store, time.time() - 60, batch_size=2, pause=0) == 5
    assert await responses.count() == 1
