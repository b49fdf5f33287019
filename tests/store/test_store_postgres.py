"""What is particular to the PostgreSQL store: passwords, the pool, serializable transactions, an absent server."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import pytest
from structlog.testing import capture_logs

from agentrt.errors import StoreError
from agentrt.store import Store, UsageLedger, UsageRecord, open_store
from agentrt.store.postgres import PostgresStore

PASSWORD = "s3cr3t-Pa55word"


def _with_password(url: str) -> str:
    # The test server trusts loopback connections, so a password in the URL is accepted and unused.
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@", 1)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_the_password_is_never_shown_logged_or_in_an_error(pg_schema_url: str) -> None:
    url = _with_password(pg_schema_url)
    with capture_logs() as logs:
        store = open_store(url)
        async with store:
            assert store.dialect == "postgresql"
            async with UsageLedger(store) as ledger:
                ledger.record(UsageRecord(model="m", provider="p", operation="generate"))
            with pytest.raises(StoreError) as caught:
                await store.execute("SELECT * FROM no_such_table")
    assert "no_such_table" in str(caught.value)
    shown = [repr(store), str(store), store.url_for_logs, str(caught.value), repr(logs)]
    assert logs
    for text in shown:
        assert PASSWORD not in text
    assert "postgres:**********@127.0.0.1" in store.url_for_logs


async def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    store = open_store(f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/postgres?connect_timeout=2")
    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL store") as caught:
        await store.open()
    assert PASSWORD not in str(caught.value)
    assert caught.value.retryable
    assert not store.is_open


async def test_a_password_option_in_the_query_is_masked_too(postgres_url: str) -> None:
    store = open_store(f"{postgres_url}?password={PASSWORD}&application_name=agentrt-test")
    assert PASSWORD not in store.url_for_logs
    assert "application_name=agentrt-test" in store.url_for_logs


async def test_libpq_options_pass_through_and_the_pool_is_bounded(pg_schema_url: str) -> None:
    store = open_store(f"{pg_schema_url}&application_name=agentrt-test&max_connections=2")
    assert isinstance(store, PostgresStore)
    assert store.max_connections == 2
    async with store:
        assert await store.fetchone("SELECT current_setting('application_name')") == ("agentrt-test",)
        # More concurrent queries than connections: they wait for one, they do not fail.
        results = await asyncio.gather(*(store.fetchone("SELECT ?::bigint * 2", (i,)) for i in range(20)))
        assert [row[0] for row in results if row] == [i * 2 for i in range(20)]
        port = urlsplit(pg_schema_url).port
        assert store.url_for_logs.startswith(f"postgresql://postgres@127.0.0.1:{port}/postgres?")


async def test_a_serialization_failure_is_a_retryable_store_error(pg_schema_url: str) -> None:
    async with open_store(pg_schema_url) as store:
        await store.migrate("t", ["CREATE TABLE seats (n BIGINT)"])
        both_read = asyncio.Barrier(2)

        async def book(seat: int) -> None:
            async with store.transaction(serializable=True) as tx:
                await tx.fetchone("SELECT COUNT(*) FROM seats")
                await both_read.wait()  # each decided on the count the other is about to change
                await tx.execute("INSERT INTO seats (n) VALUES (?)", (seat,))

        results = await asyncio.gather(book(1), book(2), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1
        assert isinstance(errors[0], StoreError)
        assert errors[0].retryable
        assert "SerializationFailure" in str(errors[0])
        assert await store.fetchone("SELECT COUNT(*) FROM seats") == (1,)


async def test_read_committed_is_the_default(pg_schema_url: str) -> None:
    store: Store
    async with open_store(pg_schema_url) as store:
        async with store.transaction() as tx:
            assert await tx.fetchone("SHOW transaction_isolation") == ("read committed",)
        async with store.transaction(serializable=True) as tx:
            assert await tx.fetchone("SHOW transaction_isolation") == ("serializable",)
