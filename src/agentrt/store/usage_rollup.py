"""The dashboard's usage rollup: calls, tokens and cost per UTC day, tenant and one grouping key.

The usage pages group the ledger by tenant, user, model, provider or API key
over days and months. Summing a month of raw rows at a million rows is too
slow for a page (hundreds of milliseconds on SQLite), so each closed UTC day
is summed once into :data:`ROLLUP_TABLE`: one row per (day, tenant, dimension,
key), where the dimension is what the rows are grouped by (``user``, ``model``
...). A month grouped by user then reads ~30 x users rows instead of every call.

A day is rolled once it has been closed for :data:`GRACE` seconds (the
ledger writes rows within a second of the call), in one transaction that also
records the day in :data:`ROLLED_TABLE`; a second process finds the day
recorded and skips it, so each day is counted once. Days that retention
(``store.retention.ledger``) already moved to its own daily rollup are read
from there, in the same statement as the ledger rows (one snapshot: a row
being pruned meanwhile is counted in one place or the other, never both);
those rows have no API key, so they count under an empty key for ``api_key``.

Everything else (today, the hours of the last days, filters other than the
tenant) is read from the ledger's rows through its indexes; this component's
migrations add the indexes the dashboard's filters need.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

import structlog

from agentrt.store._base import Store
from agentrt.store.retention import ROLLUP_TABLE as RETENTION_ROLLUP

__all__ = [
    "COMPONENT",
    "DASHBOARD_MIGRATIONS",
    "DIMENSIONS",
    "GRACE",
    "HOURLY_TABLE",
    "MAX_DAYS",
    "MONTHLY_TABLE",
    "ROLLED_HOURS_TABLE",
    "ROLLED_MONTHS_TABLE",
    "ROLLED_TABLE",
    "ROLLUP_TABLE",
    "Dimension",
    "day_bounds",
    "month_bounds",
    "roll_up_closed_days",
    "rolled_days",
    "rolled_months",
]

COMPONENT: Final = "dashboard"
ROLLUP_TABLE: Final = "agentrt_dash_usage_daily"
ROLLED_TABLE: Final = "agentrt_dash_rolled_days"
HOURLY_TABLE: Final = "agentrt_dash_usage_hourly"
MONTHLY_TABLE: Final = "agentrt_dash_usage_monthly"
ROLLED_MONTHS_TABLE: Final = "agentrt_dash_rolled_months"
ROLLED_HOURS_TABLE: Final = "agentrt_dash_rolled_hours"
GRACE: Final = 900.0
"""Seconds after a UTC day ends before it is rolled up: late ledger rows (a batch, a retried write) land first."""

MAX_DAYS: Final = 400
"""How far back the rollup goes; the usage pages read older days from the ledger's rows."""

Dimension = Literal["tenant", "user", "model", "provider", "api_key"]
DIMENSIONS: Final[dict[str, str]] = {
    "tenant": "t",
    "user": "u",
    "model": "m",
    "provider": "p",
    "api_key": "k",
}
"""Each grouping of the usage pages, and its column in the rollup statement's ``parts``."""

DASHBOARD_MIGRATIONS: Final[list[str | dict[str, str]]] = [
    # 1: the filters of the usage and audit pages each have an index (the ledger and audit trail have the
    # others: ts, user, tenant, model, request_id), and the daily rollup with the days it holds.
    "CREATE INDEX IF NOT EXISTS agentrt_usage_api_key ON agentrt_usage (api_key, ts);"
    "CREATE INDEX IF NOT EXISTS agentrt_usage_provider ON agentrt_usage (provider, ts);"
    "CREATE INDEX IF NOT EXISTS agentrt_audit_tenant ON agentrt_audit (tenant, ts);"
    "CREATE INDEX IF NOT EXISTS agentrt_audit_decision ON agentrt_audit (decision, ts);"
    f"""CREATE TABLE IF NOT EXISTS {ROLLUP_TABLE} (
        day TEXT NOT NULL,
        tenant TEXT NOT NULL,
        dim TEXT NOT NULL,
        key TEXT NOT NULL,
        calls BIGINT NOT NULL,
        failures BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost DOUBLE PRECISION NOT NULL,
        unpriced BIGINT NOT NULL,
        PRIMARY KEY (dim, day, tenant, key)
    );"""
    f"CREATE INDEX IF NOT EXISTS {ROLLUP_TABLE}_tenant ON {ROLLUP_TABLE} (dim, tenant, day);"
    f"CREATE TABLE IF NOT EXISTS {ROLLED_TABLE} (day TEXT PRIMARY KEY, rolled_at DOUBLE PRECISION NOT NULL)",
    # 2: the same per UTC hour, for the hours of the last days (agentrt.store.usage_rollup_hours).
    f"""CREATE TABLE IF NOT EXISTS {HOURLY_TABLE} (
        hour TEXT NOT NULL,
        tenant TEXT NOT NULL,
        dim TEXT NOT NULL,
        key TEXT NOT NULL,
        calls BIGINT NOT NULL,
        failures BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost DOUBLE PRECISION NOT NULL,
        unpriced BIGINT NOT NULL,
        PRIMARY KEY (dim, hour, tenant, key)
    );"""
    f"CREATE TABLE IF NOT EXISTS {ROLLED_HOURS_TABLE} (hour TEXT PRIMARY KEY, rolled_at DOUBLE PRECISION NOT NULL);"
    # The series of the top groups read a few keys over many days: by key first.
    f"CREATE INDEX IF NOT EXISTS {ROLLUP_TABLE}_key ON {ROLLUP_TABLE} (dim, key, day);"
    f"CREATE INDEX IF NOT EXISTS {HOURLY_TABLE}_key ON {HOURLY_TABLE} (dim, key, hour)",
    # 3: the days of each closed month summed again: a quarter's totals by user read 3 rows per user, not 90.
    f"""CREATE TABLE IF NOT EXISTS {MONTHLY_TABLE} (
        month TEXT NOT NULL,
        tenant TEXT NOT NULL,
        dim TEXT NOT NULL,
        key TEXT NOT NULL,
        calls BIGINT NOT NULL,
        failures BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost DOUBLE PRECISION NOT NULL,
        unpriced BIGINT NOT NULL,
        PRIMARY KEY (dim, month, tenant, key)
    );"""
    f"CREATE TABLE IF NOT EXISTS {ROLLED_MONTHS_TABLE} (month TEXT PRIMARY KEY, rolled_at DOUBLE PRECISION NOT NULL)",
]
"""The ``dashboard`` component's schema versions (applied after ``usage`` and ``audit``)."""

_log = structlog.get_logger("agentrt.store")

_SUMS: Final = "SUM(calls), SUM(failures), SUM(input_tokens), SUM(output_tokens), SUM(cost), SUM(unpriced)"


def roll_sql(table: str = ROLLUP_TABLE, column: str = "day", *, pruned: bool = True) -> str:
    """One statement rolling ``[?, ?)`` of the ledger into ``table`` under the bucket ``?`` (its ``column``), and
    (``pruned``) retention's rollup of the day ``?``; then the bucket once per dimension."""
    per_dim = " UNION ALL ".join(
        f"SELECT ?, t, '{dim}', {column}, {_SUMS} FROM parts GROUP BY t, {column}" for dim, column in DIMENSIONS.items()
    )
    return (
        "WITH parts (t, u, k, m, p, calls, failures, input_tokens, output_tokens, cost, unpriced) AS ("
        "SELECT COALESCE(tenant, ''), COALESCE(user_name, ''), COALESCE(api_key, ''), model, provider, "
        "COUNT(*), SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END), SUM(input_tokens), SUM(output_tokens), "
        "COALESCE(SUM(cost), 0), SUM(CASE WHEN cost IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END) "
        "FROM agentrt_usage WHERE ts >= ? AND ts < ? GROUP BY 1, 2, 3, 4, 5"
        + (
            " UNION ALL SELECT tenant, user_name, '', model, provider, calls, failures, input_tokens, output_tokens, "
            f"cost, unpriced FROM {RETENTION_ROLLUP} WHERE day = ?"
            if pruned
            else ""
        )
        + f") INSERT INTO {table} ({column}, tenant, dim, key, calls, failures, input_tokens, output_tokens, cost, "
        f"unpriced) {per_dim}"
    )


_ROLL: Final = roll_sql()


def day_bounds(day: str) -> tuple[float, float]:
    """The epoch seconds of ``YYYY-MM-DD``'s start and end (UTC)."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


async def rolled_days(store: Store, first: str, last: str) -> set[str]:
    """The days in ``[first, last]`` the rollup holds."""
    rows = await store.fetchall(f"SELECT day FROM {ROLLED_TABLE} WHERE day >= ? AND day <= ?", (first, last))
    return {str(row[0]) for row in rows}


async def roll_up_day(store: Store, day: str) -> bool:
    """Roll up one day; False when it was rolled already (by this or another process)."""
    start, end = day_bounds(day)
    async with store.transaction() as tx:
        # The day's marker is claimed in the same transaction: of two processes, one inserts it and rolls the
        # day, the other's insert waits for that commit and then changes no row, so it rolls nothing.
        taken = await tx.fetchone(f"SELECT 1 FROM {ROLLED_TABLE} WHERE day = ?", (day,))
        if taken is not None:
            return False
        claimed = await tx.execute(
            f"INSERT INTO {ROLLED_TABLE} (day, rolled_at) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
            (day, time.time()),
        )
        if claimed != 1:  # another process inserted it after our look (PostgreSQL does not block the look)
            return False
        await tx.execute(_ROLL, (start, end, day, *([day] * len(DIMENSIONS))))
    return True


async def _first_day(store: Store) -> str | None:
    row = await store.fetchone("SELECT MIN(ts) FROM agentrt_usage")
    first = None if row is None or row[0] is None else _day(float(row[0]))
    row = await store.fetchone(f"SELECT MIN(day) FROM {RETENTION_ROLLUP}")
    pruned = None if row is None or row[0] is None else str(row[0])
    days = [d for d in (first, pruned) if d is not None]
    return min(days) if days else None


async def roll_up_closed_days(store: Store, *, now: float | None = None, pause: float = 0.0) -> list[str]:
    """Roll up every closed day (ended ``GRACE`` seconds ago) the rollup lacks; return the days rolled."""
    now = time.time() if now is None else now
    last = _day(now - GRACE - 86400.0)  # the newest day closed for GRACE seconds at least
    oldest = first = await _first_day(store)
    if first is not None:  # a stray ancient row must not make thousands of empty days; older ones stay raw
        first = max(first, _day(now - MAX_DAYS * 86400.0))
    if oldest is None or first is None or first > last:
        return []
    done = await rolled_days(store, first, last)
    rolled: list[str] = []
    for day in _days(first, last):
        if day in done:
            continue
        if await roll_up_day(store, day):
            rolled.append(day)
        if pause:
            await asyncio.sleep(pause)  # other writers of the store get their turn
    if rolled:
        _log.info("dashboard_usage_rolled_up", days=len(rolled), first=rolled[0], last=rolled[-1])
    # A month is summed once all its days with calls are rolled: from the oldest call on (days before the
    # cap are not rolled, so a month that has some is never summed, and its days stay raw and right).
    await _roll_up_complete_months(store, max(oldest, _day(now - 2 * MAX_DAYS * 86400.0)), last, done | set(rolled))
    return rolled


def month_bounds(month: str) -> tuple[float, float]:
    """The epoch seconds of ``YYYY-MM``'s start and end (UTC)."""
    year, number = int(month[:4]), int(month[5:7])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp()


async def rolled_months(store: Store, first: str, last: str) -> set[str]:
    """The months in ``[first, last]`` (``YYYY-MM``) the monthly rollup holds."""
    rows = await store.fetchall(
        f"SELECT month FROM {ROLLED_MONTHS_TABLE} WHERE month >= ? AND month <= ?", (first, last)
    )
    return {str(row[0]) for row in rows}


async def _roll_up_complete_months(store: Store, first: str, last: str, days: set[str]) -> None:
    """Sum into the monthly rollup each month whose days (from ``first``, the first with calls) are all rolled
    and closed (up to ``last``)."""
    done = await rolled_months(store, first[:7], last[:7])
    for month in sorted({day[:7] for day in _days(first, last)}):
        start, end = month_bounds(month)
        month_days = [d for d in _days(_day(start), _day(end - 1)) if d >= first]
        if month in done or month_days[-1] > last or not all(d in days for d in month_days):
            continue
        async with store.transaction() as tx:
            if await tx.fetchone(f"SELECT 1 FROM {ROLLED_MONTHS_TABLE} WHERE month = ?", (month,)) is not None:
                continue
            claimed = await tx.execute(
                f"INSERT INTO {ROLLED_MONTHS_TABLE} (month, rolled_at) VALUES (?, ?) ON CONFLICT (month) DO NOTHING",
                (month, time.time()),
            )
            if claimed != 1:  # another process summed it meanwhile
                continue
            await tx.execute(
                f"INSERT INTO {MONTHLY_TABLE} (month, tenant, dim, key, calls, failures, input_tokens, output_tokens, "
                f"cost, unpriced) SELECT ?, tenant, dim, key, {_SUMS} FROM {ROLLUP_TABLE} "
                "WHERE day >= ? AND day <= ? GROUP BY tenant, dim, key",
                (month, month + "-01", month + "-31"),
            )


def _days(first: str, last: str) -> Sequence[str]:
    day = date.fromisoformat(first)
    end = date.fromisoformat(last)
    out = []
    while day <= end:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out
