"""The usage ledger on every dialect: batched writes, nothing lost on a clean stop, sums in SQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from agentrt.errors import RuntimeStateError, StoreError
from agentrt.store import Store, UsageLedger, UsageRecord, UsageSummary
from agentrt.store._batch import BatchWriter

DAY1 = datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC).timestamp()  # one second before midnight UTC
DAY2 = DAY1 + 2


def call(
    *,
    ts: float = DAY1,
    user: str | None = "alice",
    tenant: str | None = "acme",
    model: str = "small",
    provider: str = "openai",
    input_tokens: int = 10,
    output_tokens: int = 5,
    cost: float | None = 0.25,
    outcome: str = "ok",
) -> UsageRecord:
    return UsageRecord(
        ts=ts,
        request_id="r",
        user=user,
        tenant=tenant,
        model=model,
        provider=provider,
        operation="generate",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        latency=0.2,
        outcome=outcome,
        attempts=1,
    )


@pytest.fixture
async def ledger(store: Store) -> AsyncIterator[UsageLedger]:
    async with UsageLedger(store, flush_interval=30) as opened:
        yield opened


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` to hold, checking between other tasks' steps; fail after 10 s rather than hang."""
    async with asyncio.timeout(10):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


async def _count(store: Store) -> int:
    row = await store.fetchone("SELECT COUNT(*) FROM agentrt_usage")
    assert row is not None
    return int(row[0])


async def test_a_record_is_written_with_every_field(ledger: UsageLedger, store: Store) -> None:
    ledger.record(
        UsageRecord(
            ts=DAY1,
            request_id="req-1",
            user="alice",
            tenant="acme",
            api_key="ci",
            model="small",
            provider="openai",
            operation="stream",
            input_tokens=12,
            output_tokens=34,
            cached_tokens=5,
            cost=None,
            latency=1.25,
            outcome="ProviderTimeout",
            attempts=3,
        )
    )
    assert ledger.writer.pending == 1
    assert await ledger.flush() == 1
    assert ledger.writer.pending == 0
    rows = await store.fetchall(
        "SELECT ts, request_id, user_name, tenant, api_key, model, provider, operation, input_tokens, "
        "output_tokens, cached_tokens, cost, latency, outcome, attempts FROM agentrt_usage"
    )
    assert rows == [
        (DAY1, "req-1", "alice", "acme", "ci", "small", "openai", "stream", 12, 34, 5, None, 1.25, "ProviderTimeout", 3)
    ]


async def test_query_groups_and_sums_in_sql(ledger: UsageLedger) -> None:
    for record in (
        call(user="alice", model="small", cost=0.25),
        call(user="alice", model="big", cost=1.0, outcome="ProviderTimeout", input_tokens=0, output_tokens=0),
        call(user="bob", model="small", cost=0.5, input_tokens=100, output_tokens=50),
        call(user=None, tenant="other", model="small", provider="anthropic", cost=0.125),
    ):
        ledger.record(record)
    await ledger.flush()
    assert await ledger.query("user") == [
        UsageSummary("alice", calls=2, failures=1, input_tokens=10, output_tokens=5, cost=1.25),
        UsageSummary("bob", calls=1, failures=0, input_tokens=100, output_tokens=50, cost=0.5),
        UsageSummary(None, calls=1, failures=0, input_tokens=10, output_tokens=5, cost=0.125),
    ]
    assert [(s.key, s.calls) for s in await ledger.query("model")] == [("big", 1), ("small", 3)]
    assert [(s.key, s.calls) for s in await ledger.query("tenant")] == [("acme", 3), ("other", 1)]
    assert [(s.key, s.calls) for s in await ledger.query("provider")] == [("anthropic", 1), ("openai", 3)]
    assert await ledger.query() == [
        UsageSummary(None, calls=4, failures=1, input_tokens=120, output_tokens=60, cost=1.875)
    ]


async def test_days_are_utc_days(ledger: UsageLedger) -> None:
    ledger.record(call(ts=DAY1))
    ledger.record(call(ts=DAY2))
    ledger.record(call(ts=DAY2 + 3600))
    await ledger.flush()
    assert [(s.key, s.calls) for s in await ledger.query("day")] == [("2026-11-01", 1), ("2026-11-02", 2)]


async def test_filters_and_the_time_window(ledger: UsageLedger) -> None:
    ledger.record(call(ts=DAY1, user="alice", tenant="acme", model="small"))
    ledger.record(call(ts=DAY2, user="alice", tenant="acme", model="big"))
    ledger.record(call(ts=DAY2, user="bob", tenant="beta", model="small"))
    await ledger.flush()
    assert (await ledger.query(since=DAY2))[0].calls == 2
    assert (await ledger.query(until=DAY2))[0].calls == 1  # until is exclusive
    assert (await ledger.query(since=DAY1, until=DAY1 + 1))[0].calls == 1
    assert (await ledger.query(user="alice"))[0].calls == 2
    assert (await ledger.query(tenant="beta"))[0].calls == 1
    assert (await ledger.query("user", model="small")) == [
        UsageSummary("alice", 1, 0, 10, 5, 0.25),
        UsageSummary("bob", 1, 0, 10, 5, 0.25),
    ]
    assert await ledger.query(user="nobody") == []
    assert await ledger.query("user", since=DAY2 + 100) == []


async def test_the_cost_is_unknown_when_a_call_that_used_tokens_had_no_price(ledger: UsageLedger) -> None:
    ledger.record(call(model="priced", cost=0.5))
    ledger.record(call(model="unpriced", cost=None))
    ledger.record(call(model="unpriced", cost=0.5))
    ledger.record(call(model="failed", cost=None, input_tokens=0, output_tokens=0, outcome="ProviderUnavailable"))
    await ledger.flush()
    by_model = {s.key: s.cost for s in await ledger.query("model")}
    assert by_model == {"priced": 0.5, "unpriced": None, "failed": 0.0}
    assert (await ledger.query())[0].cost is None


async def test_an_unknown_grouping_is_refused(ledger: UsageLedger) -> None:
    with pytest.raises(ValueError, match="cannot group usage by 'week'"):
        await ledger.query("week")  # type: ignore[arg-type]


async def test_the_background_task_writes_without_a_flush(store: Store) -> None:
    async with UsageLedger(store, flush_interval=0.01) as ledger:
        for i in range(25):
            ledger.record(call(input_tokens=i))
        await until(lambda: ledger.writer.written >= 25)
        assert await _count(store) == 25


async def test_a_full_batch_is_written_before_the_interval(store: Store) -> None:
    async with UsageLedger(store, flush_interval=3600, batch_size=10) as ledger:
        for _ in range(10):
            ledger.record(call())
        await until(lambda: ledger.writer.written >= 10)  # in an hour-long interval, only a full batch wakes it
        assert await _count(store) == 10


async def test_batches_are_at_most_batch_size_and_all_are_written(store: Store) -> None:
    async with UsageLedger(store, flush_interval=3600, batch_size=7) as ledger:
        for i in range(50):
            ledger.record(call(input_tokens=i))
        await ledger.flush()
        assert await _count(store) == 50
        rows = await store.fetchall("SELECT input_tokens FROM agentrt_usage ORDER BY id")
        assert [row[0] for row in rows] == list(range(50))  # in order, each once


async def test_close_writes_everything_and_is_idempotent(store: Store) -> None:
    ledger = UsageLedger(store, flush_interval=3600)
    await ledger.start()
    for _ in range(1234):
        ledger.record(call())
    await ledger.close()
    await ledger.close()
    assert await _count(store) == 1234
    with pytest.raises(RuntimeStateError, match="writer is closed"):
        ledger.record(call())


async def test_a_cancelled_flush_neither_loses_nor_duplicates_rows(store: Store) -> None:
    ledger = UsageLedger(store, flush_interval=3600, batch_size=50)
    await ledger.start()
    for _ in range(1000):
        ledger.record(call())
    flushing = asyncio.create_task(ledger.flush())
    await asyncio.sleep(0)
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    await ledger.close()
    assert await _count(store) == 1000


async def test_a_failed_write_is_logged_kept_and_retried(store: Store) -> None:
    ledger = UsageLedger(store, flush_interval=3600)
    await ledger.start()
    await store.execute("ALTER TABLE agentrt_usage RENAME TO agentrt_usage_away")
    ledger.record(call(user="kept"))
    with capture_logs() as logs, pytest.raises(StoreError):
        await ledger.flush()
    failures = [entry for entry in logs if entry["event"] == "store_write_failed"]
    assert failures
    assert failures[0]["log_level"] == "error"
    assert failures[0]["writer"] == "usage"
    assert ledger.writer.pending == 1
    assert ledger.writer.write_failures == 1
    await store.execute("ALTER TABLE agentrt_usage_away RENAME TO agentrt_usage")
    await ledger.close()
    assert await ledger.query("user") == [UsageSummary("kept", 1, 0, 10, 5, 0.25)]


async def test_the_background_task_retries_until_the_store_accepts(store: Store) -> None:
    ledger = UsageLedger(store, flush_interval=0.01)
    await ledger.start()
    await store.execute("ALTER TABLE agentrt_usage RENAME TO agentrt_usage_away")
    with capture_logs() as logs:
        ledger.record(call())
        await until(lambda: ledger.writer.write_failures >= 2)
    assert sum(entry["event"] == "store_write_failed" for entry in logs) >= 2
    await store.execute("ALTER TABLE agentrt_usage_away RENAME TO agentrt_usage")
    await until(lambda: ledger.writer.written >= 1)
    await ledger.close()
    assert await _count(store) == 1


async def test_a_record_of_the_wrong_type_is_dropped_alone_and_logged(ledger: UsageLedger, store: Store) -> None:
    ledger.record(call(user="first"))
    ledger.record(call(input_tokens="many"))  # type: ignore[arg-type]
    ledger.record(call(user="last"))
    with capture_logs() as logs:
        assert await ledger.flush() == 2
    assert [entry["event"] for entry in logs] == ["store_record_rejected"]
    assert ledger.writer.dropped == 1
    assert [s.key for s in await ledger.query("user")] == ["first", "last"]


async def test_memory_stays_bounded_while_writes_fail(store: Store) -> None:
    ledger = UsageLedger(store, flush_interval=3600, batch_size=10, max_pending=30)
    await ledger.start()
    await store.execute("ALTER TABLE agentrt_usage RENAME TO agentrt_usage_away")
    for i in range(45):
        ledger.record(call(input_tokens=i))
    with capture_logs() as logs, pytest.raises(StoreError):
        await ledger.flush()
    assert ledger.writer.pending == 30
    assert ledger.writer.dropped == 15
    assert any(entry["event"] == "store_records_dropped" for entry in logs)
    await store.execute("ALTER TABLE agentrt_usage_away RENAME TO agentrt_usage")
    await ledger.close()
    rows = await store.fetchall("SELECT input_tokens FROM agentrt_usage ORDER BY id")
    assert [row[0] for row in rows] == list(range(15, 45))  # the newest kept, the oldest dropped


async def test_close_gives_up_after_its_timeout_loudly(store: Store) -> None:
    writer: BatchWriter[tuple[int]] = BatchWriter(
        store, name="t", insert_sql="INSERT INTO missing_table (x) VALUES (?)", to_row=tuple, close_timeout=0.05
    )
    writer.start()
    writer.add((1,))
    with capture_logs() as logs, pytest.raises(StoreError):
        await writer.close()
    lost = [entry for entry in logs if entry["event"] == "store_records_lost"]
    assert lost
    assert lost[0]["lost"] == 1


async def test_closing_the_store_before_the_ledger_is_reported(store_url: str) -> None:
    from agentrt.store import open_store

    store = open_store(store_url)
    await store.open()
    ledger = UsageLedger(store)
    await ledger.start()
    ledger.record(call())
    await store.close()
    with capture_logs() as logs, pytest.raises(RuntimeStateError, match="closed store"):
        await ledger.close()
    assert any(entry["event"] == "store_records_lost" for entry in logs)


def test_batch_writer_settings_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        UsageLedger(store, batch_size=0)
    with pytest.raises(ValueError, match="flush_interval"):
        UsageLedger(store, flush_interval=0)
