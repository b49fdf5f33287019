"""The usage queries behind the dashboard against a known ledger: rollup and raw rows agree with a plain sum."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from agentrt.store import open_store
from agentrt.store._base import Store
from agentrt.store.audit import AuditTrail
from agentrt.store.ledger import UsageLedger, UsageRecord
from agentrt.store.retention import prune_ledger
from agentrt.store.usage_report import UsageFilter, day_start, usage_points
from agentrt.store.usage_rollup import (
    COMPONENT,
    DASHBOARD_MIGRATIONS,
    GRACE,
    ROLLED_HOURS_TABLE,
    ROLLED_TABLE,
    ROLLUP_TABLE,
    month_bounds,
    roll_up_closed_days,
    rolled_months,
)
from agentrt.store.usage_rollup_hours import KEEP_DAYS, hour_of, roll_up_closed_hours
from agentrt.store.usage_rows import ledger_rows

NOW = 1_767_225_600.0 + 13 * 3600 + 17  # 2026-01-01 13:00:17 UTC
DAY = 86400.0
TODAY = day_start(NOW)
TENANTS = ["acme", "globex", None]
USERS = ["ann", "bob", "cy", None]
MODELS = [("gpt-a", "oai"), ("claude-b", "anth"), ("free-c", "local")]
KEYS = ["k1", "k2", None]
BYS: list[Any] = [None, "tenant", "user", "model", "provider", "api_key"]


def known_rows(n: int = 600, seed: int = 7) -> list[UsageRecord]:
    """Calls spread over the 6 days before NOW and today, with and without tenants, users, keys, prices."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        model, provider = rng.choice(MODELS)
        ts = NOW - rng.uniform(0, 6 * DAY + 13 * 3600)
        tokens_in, tokens_out = rng.randint(0, 500), rng.randint(0, 300)
        rows.append(
            UsageRecord(
                ts=ts,
                request_id=f"req-{i}",
                user=rng.choice(USERS),
                tenant=rng.choice(TENANTS),
                api_key=rng.choice(KEYS),
                model=model,
                provider=provider,
                operation="generate",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost=None if model == "free-c" else round((tokens_in + 2 * tokens_out) * 1e-6, 9),
                outcome="ok" if rng.random() > 0.1 else "ProviderTimeout",
            )
        )
    return rows


_FIELD = {"tenant": "tenant", "user": "user", "model": "model", "provider": "provider", "api_key": "api_key"}


def expected(
    rows: list[UsageRecord],
    since: float,
    until: float,
    by: str | None,
    step: float,
    where: dict[str, str] | None = None,
) -> dict[tuple[float, str | None], tuple[int, int, int, int, float]]:
    sums: dict[tuple[float, str | None], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for r in rows:
        if not since <= r.ts < until:
            continue
        if where and any(getattr(r, _FIELD[k]) != v for k, v in where.items()):
            continue
        bucket = (r.ts // step) * step
        key = None if by is None else getattr(r, _FIELD[by])
        s = sums[(bucket, key)]
        s[0] += 1
        s[1] += r.outcome != "ok"
        s[2] += r.input_tokens
        s[3] += r.output_tokens
        s[4] += r.cost or 0.0
    return {k: (v[0], v[1], v[2], v[3], round(v[4], 9)) for k, v in sums.items()}


def got(points: list[Any]) -> dict[tuple[float, str | None], tuple[int, int, int, int, float]]:
    return {(p.bucket, p.key): (p.calls, p.failures, p.input_tokens, p.output_tokens, round(p.cost, 9)) for p in points}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """SQLite in memory, or a fresh schema of the session's PostgreSQL (dropped afterwards)."""
    if request.param == "sqlite":
        yield "memory://"
        return
    with _pg_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with open_store(store_url) as s:
        audit = AuditTrail(s)
        await audit.start()
        ledger = UsageLedger(s, audit=audit)
        await ledger.start()
        await s.migrate(COMPONENT, DASHBOARD_MIGRATIONS)
        s.test_rows = known_rows()  # type: ignore[attr-defined]
        for row in s.test_rows:  # type: ignore[attr-defined]
            ledger.record(row)
        await ledger.close()
        await audit.close()
        yield s


@pytest.mark.parametrize("by", BYS)
async def test_days_from_the_rollup_and_the_rows_agree_with_a_plain_sum(store: Store, by: Any) -> None:
    rows = store.test_rows  # type: ignore[attr-defined]
    since, until = TODAY - 6 * DAY, TODAY + DAY
    before = got(await usage_points(store, since=since, until=until, by=by, granularity="day"))
    rolled = await roll_up_closed_days(store, now=NOW)
    assert len(rolled) == 6  # the 6 closed days; today stays raw
    after = got(await usage_points(store, since=since, until=until, by=by, granularity="day"))
    assert before == after == expected(rows, since, until, by, DAY)
    # The closed days really come from the rollup now: without their rows the answer is the same.
    await store.execute("DELETE FROM agentrt_usage WHERE ts < ?", (TODAY,))
    assert got(await usage_points(store, since=since, until=until, by=by, granularity="day")) == after
    for tenant in ("acme", "globex"):
        where = UsageFilter(tenant=tenant)
        points = await usage_points(store, since=since, until=until, by=by, granularity="day", where=where)
        assert got(points) == expected(rows, since, until, by, DAY, {"tenant": tenant})


async def test_the_rollup_answers_a_filter_on_the_grouped_key_and_rows_answer_the_others(store: Store) -> None:
    rows = store.test_rows  # type: ignore[attr-defined]
    await roll_up_closed_days(store, now=NOW)
    since, until = TODAY - 6 * DAY, TODAY + DAY
    cases: list[tuple[Any, UsageFilter, dict[str, str]]] = [
        ("user", UsageFilter(tenant="acme", user="ann"), {"tenant": "acme", "user": "ann"}),  # rollup
        (None, UsageFilter(model="gpt-a"), {"model": "gpt-a"}),  # rollup, ungrouped
        ("model", UsageFilter(tenant="acme", user="bob"), {"tenant": "acme", "user": "bob"}),  # raw rows
        ("api_key", UsageFilter(provider="oai", model="gpt-a"), {"provider": "oai", "model": "gpt-a"}),  # raw
    ]
    for by, where, plain in cases:
        points = await usage_points(store, since=since, until=until, by=by, granularity="day", where=where)
        assert got(points) == expected(rows, since, until, by, DAY, plain), (by, where)


@pytest.mark.parametrize("by", BYS)
async def test_hours_from_the_hourly_rollup_and_the_rows_agree_with_a_plain_sum(store: Store, by: Any) -> None:
    rows = store.test_rows  # type: ignore[attr-defined]
    since, until = TODAY - 2 * DAY, TODAY + DAY
    want = expected(rows, since, until, by, 3600.0)
    assert got(await usage_points(store, since=since, until=until, by=by, granularity="hour")) == want
    rolled = await roll_up_closed_hours(store, now=NOW)
    assert rolled[-1] == "2026-01-01T11"  # 12:00-13:00 ended less than GRACE ago at 13:00:17
    assert await roll_up_closed_hours(store, now=NOW) == []
    await store.execute("DELETE FROM agentrt_usage WHERE ts < ?", (TODAY + 12 * 3600,))  # rolled hours: rows gone
    points = await usage_points(store, since=since, until=until, by=by, granularity="hour")
    assert got(points) == want
    # Days and totals read the closed hours from the hourly rollup too (no day was rolled here).
    days = await usage_points(store, since=since, until=until, by=by, granularity="day")
    assert got(days) == expected(rows, since, until, by, DAY)
    totals = await usage_points(store, since=since, until=until, by=by, granularity="total")
    assert got(totals) == {(since, k[1]): v for k, v in expected(rows, since, until, by, 1e12).items()}
    where = UsageFilter(tenant="acme")
    points = await usage_points(store, since=since, until=until, by=by, granularity="hour", where=where)
    assert got(points) == expected(rows, since, until, by, 3600.0, {"tenant": "acme"})


async def test_the_hourly_rollup_keeps_its_last_days_only(store: Store) -> None:
    await roll_up_closed_hours(store, now=NOW)
    later = NOW + 5 * DAY
    await roll_up_closed_hours(store, now=later)
    oldest = await store.fetchone(f"SELECT MIN(hour) FROM {ROLLED_HOURS_TABLE}")
    assert oldest is not None
    assert oldest[0] >= hour_of(later - KEEP_DAYS * DAY)


async def test_totals_and_chosen_keys(store: Store) -> None:
    rows = store.test_rows  # type: ignore[attr-defined]
    await roll_up_closed_days(store, now=NOW)
    since, until = TODAY - 6 * DAY, TODAY + DAY
    totals = await usage_points(store, since=since, until=until, by="user", granularity="total")
    assert got(totals) == {(since, k[1]): v for k, v in expected(rows, since, until, "user", 1e12).items()}
    picked = await usage_points(store, since=since, until=until, by="user", granularity="day", keys=["ann", None])
    assert {p.key for p in picked} == {"ann", None}
    every = expected(rows, since, until, "user", DAY)
    assert got(picked) == {k: v for k, v in every.items() if k[1] in ("ann", None)}
    assert await usage_points(store, since=since, until=until, by="user", granularity="day", keys=[]) == []


async def test_each_day_is_rolled_once_and_only_after_its_grace(store: Store) -> None:
    assert await roll_up_closed_days(store, now=TODAY + GRACE - 1) == [
        f"2025-12-{d}"
        for d in (26, 27, 28, 29, 30)  # yesterday (Dec 31) ended less than GRACE ago
    ]
    assert await roll_up_closed_days(store, now=TODAY + GRACE + 1) == ["2025-12-31"]
    assert await roll_up_closed_days(store, now=NOW) == []
    days = await store.fetchall(f"SELECT COUNT(*) FROM {ROLLED_TABLE}")
    assert days[0][0] == 6
    dims = await store.fetchall(f"SELECT DISTINCT dim FROM {ROLLUP_TABLE} ORDER BY dim")
    assert [d[0] for d in dims] == ["api_key", "model", "provider", "tenant", "user"]


async def test_days_pruned_by_retention_before_the_rollup_still_count(store: Store) -> None:
    rows = store.test_rows  # type: ignore[attr-defined]
    since, until = TODAY - 6 * DAY, TODAY + DAY
    pruned = await prune_ledger(store, TODAY - 3 * DAY, batch_size=100, pause=0)
    assert pruned > 0
    await roll_up_closed_days(store, now=NOW)
    for by in ("tenant", "user", "model", "provider", None):
        points = await usage_points(store, since=since, until=until, by=by, granularity="day")
        assert got(points) == expected(rows, since, until, by, DAY), by
    # Retention's rollup keeps no API key: those calls count under no key.
    points = await usage_points(store, since=since, until=TODAY - 3 * DAY, by="api_key", granularity="day")
    assert {p.key for p in points} == {None}


async def test_ledger_rows_of_a_request_and_recent_failures(store: Store) -> None:
    rows = store.test_rows  # type: ignore[attr-defined]
    target = rows[5]
    found = await ledger_rows(store, request_id="req-5")
    assert [(r.request_id, r.model, r.input_tokens) for r in found] == [("req-5", target.model, target.input_tokens)]
    other = "globex" if target.tenant != "globex" else "acme"
    assert await ledger_rows(store, request_id="req-5", tenant=other) == []
    failed = await ledger_rows(store, failed=True, since=NOW - DAY, limit=500)
    assert failed
    assert all(r.outcome != "ok" and r.ts >= NOW - DAY for r in failed)
    assert len(failed) == sum(1 for r in rows if r.outcome != "ok" and r.ts >= NOW - DAY)


@pytest.mark.parametrize("by", BYS)
async def test_totals_of_whole_months_come_from_the_monthly_rollup(store: Store, by: Any) -> None:
    rows = store.test_rows  # type: ignore[attr-defined]
    since, until = month_bounds("2025-12")[0], TODAY + DAY
    want = {(since, k[1]): v for k, v in expected(rows, since, until, by, 1e12).items()}
    await roll_up_closed_days(store, now=NOW)
    assert await rolled_months(store, "2025-01", "2026-12") == {"2025-12"}  # January is not over
    # December's days are gone from the rows and the daily rollup: only the monthly one has them now.
    await store.execute("DELETE FROM agentrt_usage WHERE ts < ?", (TODAY,))
    await store.execute(f"DELETE FROM {ROLLUP_TABLE} WHERE day < ?", ("2026-01-01",))
    totals = await usage_points(store, since=since, until=until, by=by, granularity="total")
    assert got(totals) == want


async def test_a_month_with_days_not_rolled_is_not_summed(store: Store) -> None:
    # Closed days up to Dec 30 only: December is not complete, so it has no monthly row yet.
    await roll_up_closed_days(store, now=TODAY - DAY + GRACE + 1)
    assert await rolled_months(store, "2025-01", "2026-12") == set()
    await roll_up_closed_days(store, now=NOW)
    assert await rolled_months(store, "2025-01", "2026-12") == {"2025-12"}
    assert month_bounds("2025-12") == (1764547200.0, 1767225600.0)
    assert month_bounds("2026-12")[1] == 1798761600.0  # into the next year


@pytest.mark.parametrize("kind", ["sqlite-file", "postgresql"])
async def test_two_processes_rolling_at_once_count_each_day_once(
    kind: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    with contextlib.ExitStack() as stack:
        if kind == "sqlite-file":
            url = f"sqlite:///{tmp_path / 'shared.db'}"
        else:
            url = stack.enter_context(_pg_schema(request.getfixturevalue("postgres_url")))
        await _roll_twice_at_once(url)


async def _roll_twice_at_once(url: str) -> None:
    async with open_store(url) as first, open_store(url) as second:
        audit = AuditTrail(first)
        await audit.start()
        ledger = UsageLedger(first, audit=audit)
        await ledger.start()
        rows = known_rows(200)
        for row in rows:
            ledger.record(row)
        await ledger.close()
        await audit.close()
        await first.migrate(COMPONENT, DASHBOARD_MIGRATIONS)
        one, other = await asyncio.gather(roll_up_closed_days(first, now=NOW), roll_up_closed_days(second, now=NOW))
        assert sorted(one + other) == sorted(set(one + other))  # no day rolled by both
        assert len(one + other) == 6
        since, until = TODAY - 6 * DAY, TODAY
        await first.execute("DELETE FROM agentrt_usage WHERE ts < ?", (TODAY,))
        points = await usage_points(first, since=since, until=until, by="tenant", granularity="day")
        assert got(points) == expected(rows, since, until, "tenant", DAY)


@contextlib.contextmanager
def _pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema of the session's PostgreSQL, dropped afterwards."""
    import psycopg

    schema = f"ui_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
