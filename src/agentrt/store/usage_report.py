"""Usage over time for the dashboard: calls, tokens and cost per hour or day, grouped by one key.

Closed days come from the daily rollup (:mod:`agentrt.store.usage_rollup`)
when the query can be answered there: by day, filtered at most by tenant and
by the key it groups by. Everything else (today, hours, other filters) is
summed from the ledger's rows through an index. The two never overlap: the
rollup holds exactly the days listed in its ``rolled`` table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Literal

from agentrt.store._base import Store
from agentrt.store.usage_rollup import (
    HOURLY_TABLE,
    MONTHLY_TABLE,
    ROLLUP_TABLE,
    Dimension,
    day_bounds,
    month_bounds,
    rolled_days,
    rolled_months,
)
from agentrt.store.usage_rollup_hours import hour_bounds, hour_of, rolled_hours

__all__ = [
    "Granularity",
    "UsageFilter",
    "UsagePoint",
    "day_start",
    "days_ago",
    "month_start",
    "usage_points",
]

Granularity = Literal["hour", "day", "total"]
"""``total``: one bucket for the whole range (each group's sum), at ``since``."""

_COLUMN: Final[dict[str, str]] = {
    "tenant": "tenant",
    "user": "user_name",
    "model": "model",
    "provider": "provider",
    "api_key": "api_key",
}
_STEP: Final[dict[str, int]] = {"hour": 3600, "day": 86400, "total": 0}
_RAW_SUMS: Final = (
    "COUNT(*), SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END), COALESCE(SUM(input_tokens), 0), "
    "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cost), 0), "
    "SUM(CASE WHEN cost IS NULL AND input_tokens + output_tokens > 0 THEN 1 ELSE 0 END)"
)


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """Only the calls matching every field given (None: any)."""

    tenant: str | None = None
    user: str | None = None
    model: str | None = None
    provider: str | None = None
    api_key: str | None = None

    def given(self) -> dict[str, str]:
        return {name: value for name in _COLUMN if (value := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class UsagePoint:
    """The calls of one bucket (``bucket``: epoch seconds of its hour or UTC day) and one group key.

    ``key`` is None for calls without that field (no user) and when not grouped. ``unpriced`` counts calls
    that used tokens on a model without a price: ``cost`` leaves them out."""

    bucket: float
    key: str | None
    calls: int
    failures: int
    input_tokens: int
    output_tokens: int
    cost: float
    unpriced: int


async def usage_points(
    store: Store,
    *,
    since: float,
    until: float,
    by: Dimension | None = None,
    granularity: Granularity = "day",
    where: UsageFilter | None = None,
    keys: Sequence[str | None] | None = None,
) -> list[UsagePoint]:
    """The usage in ``[since, until)`` per bucket and group, ordered by bucket then key.

    ``keys``: only these groups (None in it: the calls without that field); needs ``by``."""
    if by is not None and by not in _COLUMN:
        raise ValueError(f"cannot group usage by {by!r}: use one of {', '.join(_COLUMN)}")
    if granularity not in _STEP:
        raise ValueError(f"granularity must be 'hour', 'day' or 'total', got {granularity!r}")
    if keys is not None and by is None:
        raise ValueError("keys= picks groups: it needs by=")
    where = where or UsageFilter()
    given = where.given()
    others = {name for name in given if name != "tenant"}
    rollup_dim = _rollup_dimension(by, others)
    points: dict[tuple[float, str | None], list[Any]] = {}
    raw_ranges = [(since, until)] if until > since else []
    if rollup_dim is not None:
        step = _STEP[granularity]

        def bucket_of(start: float) -> float:
            return since if not step else start // step * step

        # The coarsest rollup whose buckets fit first (months only for totals: a day's bucket needs days),
        # then finer ones for what is left, then the rows of what is still left.
        layers = {"total": ("month", "day", "hour"), "day": ("day", "hour"), "hour": ("hour",)}[granularity]
        for layer in layers:
            left: list[tuple[float, float]] = []
            for start, end in raw_ranges:
                covered = await _rolled_within(store, start, end, layer)
                if not covered:
                    left.append((start, end))
                    continue
                table, bounds = _LAYERS[layer]
                span = (min(covered), max(covered))
                await _from_rollup(
                    store, points, rollup_dim, by, given, span, keys, table, bounds, bucket_of, step != 0
                )
                left.extend(_uncovered(start, end, covered, bounds))
            raw_ranges = left
    for start, end in raw_ranges:
        await _from_rows(store, points, start, end, by, granularity, given, since, keys)
    return [
        UsagePoint(bucket, key, int(v[0]), int(v[1]), int(v[2]), int(v[3]), float(v[4]), int(v[5]))
        for (bucket, key), v in sorted(points.items(), key=lambda item: (item[0][0], item[0][1] is None, item[0][1]))
    ]


def _rollup_dimension(by: Dimension | None, others: set[str]) -> Dimension | None:
    """The rollup dimension that answers grouping ``by`` with filters ``others`` (beside tenant), if any."""
    if len(others) > 1:
        return None
    if not others:
        return by or "tenant"  # every call is under one tenant key (maybe empty), and there are fewest of those
    (only,) = others
    if by is not None and by != only:
        return None
    return only  # type: ignore[return-value]


def _add(
    points: dict[tuple[float, str | None], list[Any]], bucket: float, key: str | None, sums: Sequence[Any]
) -> None:
    slot = points.get((bucket, key))
    values = [0 if v is None else v for v in sums]
    if slot is None:
        points[(bucket, key)] = values
    else:
        for i, value in enumerate(values):
            slot[i] += value


async def _from_rollup(
    store: Store,
    points: dict[tuple[float, str | None], list[Any]],
    dim: Dimension,
    by: Dimension | None,
    given: dict[str, str],
    days: tuple[str, str],
    keys: Sequence[str | None] | None,
    table: tuple[str, str],
    bounds: Callable[[str], tuple[float, float]],
    bucket_of: Callable[[float], float],
    per_bucket: bool,
) -> None:
    name, column = table
    clauses = ["dim = ?", f"{column} >= ?", f"{column} <= ?"]
    params: list[Any] = [dim, *days]
    if "tenant" in given:
        clauses.append("tenant = ?")
        params.append(given["tenant"])
    if dim in given and dim != "tenant":
        clauses.append("key = ?")
        params.append(given[dim])
    if keys is not None:
        clauses.append(f"key IN ({', '.join('?' * len(keys))})" if keys else "1 = 0")
        params.extend("" if k is None else k for k in keys)
    key = "key" if by is not None else "''"
    # One bucket for the range (totals): grouped by key alone, or SQL would return a row per day and key.
    bucket = column if per_bucket else f"MIN({column})"
    sql = (
        f"SELECT {bucket}, {key}, SUM(calls), SUM(failures), SUM(input_tokens), SUM(output_tokens), SUM(cost), "
        f"SUM(unpriced) FROM {name} WHERE {' AND '.join(clauses)} GROUP BY {'2' if bucket != column else '1, 2'}"
    )
    starts: dict[str, float] = {}  # bucket -> its start: parsing a date per row would cost more than the query
    for row in await store.fetchall(sql, params):
        group = None if by is None or row[1] == "" else str(row[1])
        at = starts.get(row[0])
        if at is None:
            at = starts[row[0]] = bucket_of(bounds(str(row[0]))[0])
        _add(points, at, group, row[2:])


_LAYERS: Final[dict[str, tuple[tuple[str, str], Callable[[str], tuple[float, float]]]]] = {
    "month": ((MONTHLY_TABLE, "month"), month_bounds),
    "day": ((ROLLUP_TABLE, "day"), day_bounds),
    "hour": ((HOURLY_TABLE, "hour"), hour_bounds),
}


async def _rolled_within(store: Store, since: float, until: float, layer: str) -> set[str]:
    """The rolled months, days or hours wholly inside ``[since, until)``."""
    last = until - 1e-6
    if layer == "hour":
        rolled = await rolled_hours(store, hour_of(since), hour_of(last))
    elif layer == "day":
        rolled = await rolled_days(store, _day(since), _day(last))
    else:
        rolled = await rolled_months(store, _day(since)[:7], _day(last)[:7])
    bounds = _LAYERS[layer][1]
    return {b for b in rolled if bounds(b)[0] >= since and bounds(b)[1] <= until}


async def _from_rows(
    store: Store,
    points: dict[tuple[float, str | None], list[Any]],
    since: float,
    until: float,
    by: Dimension | None,
    granularity: Granularity,
    given: dict[str, str],
    total_at: float,
    keys: Sequence[str | None] | None,
) -> None:
    step = _STEP[granularity]
    if not step:
        bucket = "0"
    elif store.dialect == "sqlite":
        bucket = f"CAST(ts / {step} AS INTEGER)"
    else:
        bucket = f"CAST(FLOOR(ts / {step}) AS BIGINT)"
    key = _COLUMN[by] if by is not None else "NULL"
    clauses = ["ts >= ?", "ts < ?"]
    params: list[Any] = [since, until]
    for name, value in given.items():
        clauses.append(f"{_COLUMN[name]} = ?")
        params.append(value)
    if keys is not None and by is not None:
        named = [k for k in keys if k is not None]
        alternatives = [f"{key} IN ({', '.join('?' * len(named))})"] if named else []
        if None in keys:
            alternatives.append(f"{key} IS NULL")
        clauses.append(f"({' OR '.join(alternatives)})" if alternatives else "1 = 0")
        params.extend(named)
    group = "b, k" if step else "k"  # one bucket: grouping by a constant is not portable SQL
    sql = (
        f"SELECT {bucket} AS b, {key} AS k, {_RAW_SUMS} FROM agentrt_usage WHERE {' AND '.join(clauses)} "
        f"GROUP BY {group}"
    )
    for row in await store.fetchall(sql, params):
        at = float(int(row[0]) * step) if step else total_at
        _add(points, at, None if row[1] is None else str(row[1]), row[2:])


def _uncovered(
    since: float, until: float, buckets: set[str], bounds: Callable[[str], tuple[float, float]]
) -> list[tuple[float, float]]:
    """The parts of ``[since, until)`` outside ``buckets``, as few ranges as possible."""
    ranges: list[tuple[float, float]] = []
    start = since
    for bucket in sorted(buckets):
        lo, hi = bounds(bucket)
        if lo > start:
            ranges.append((start, lo))
        start = max(start, hi)
    if start < until:
        ranges.append((start, until))
    return ranges


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def month_start(ts: float) -> float:
    """The epoch seconds of the start of ``ts``'s UTC month."""
    d = datetime.fromtimestamp(ts, UTC)
    return datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()


def day_start(ts: float) -> float:
    """The epoch seconds of the start of ``ts``'s UTC day."""
    d = datetime.fromtimestamp(ts, UTC).date()
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def days_ago(ts: float, days: int) -> float:
    """The start of the UTC day ``days`` before ``ts``'s (0: ``ts``'s own)."""
    d: date = datetime.fromtimestamp(ts, UTC).date() - timedelta(days=days)
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
