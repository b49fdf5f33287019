"""The usage pages' query: period, granularity, grouping and filters, read from a request and checked.

Periods are whole UTC days (``today``, ``7d``, ``30d``, ``90d``, ``month``,
``last_month``, or ``from``/``to`` dates), so closed days come from the rollup.
Hours are offered for periods of 7 days at most (168 points per group).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from agentrt.server.errors import HttpError
from agentrt.server.ui.viewer import Viewer
from agentrt.store.usage_report import UsageFilter, UsagePoint, day_start, days_ago, month_start

__all__ = ["BY", "DEFAULT_TOP", "PERIODS", "UsageQuery", "bucket_label", "ranked", "report", "top_keys", "usage_query"]

PERIODS: Final = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "month": "This month",
    "last_month": "Last month",
    "custom": "From/to dates",
}
BY: Final = {
    "": "(no grouping)",
    "tenant": "Tenant",
    "user": "User",
    "model": "Model",
    "provider": "Provider",
    "api_key": "API key",
}
DEFAULT_TOP: Final = 10
"""The JSON API gives the points of the 10 costliest groups (and the rest summed) unless told ``top=``."""
_MAX_TOP: Final = 100_000
_HOURLY_MAX_DAYS: Final = 7
_MAX_DAYS: Final = 400


@dataclass(frozen=True, slots=True)
class UsageQuery:
    period: str
    since: float
    until: float
    granularity: str
    by: str
    where: UsageFilter
    top: int
    """How many groups' points to give (the costliest); 0: every group's."""
    params: dict[str, str]
    """The query as given (for links and the filter form), with the narrowed tenant/user."""


def _bad(message: str) -> HttpError:
    return HttpError(400, message, code="invalid_usage_query")


def _date(text: str, name: str) -> float:
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name} must be a date as YYYY-MM-DD, got {text[:40]!r}") from None
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def _period(query: Mapping[str, str], now: float) -> tuple[str, float, float]:
    period = query.get("period") or ("custom" if query.get("from") else "7d")
    tomorrow = days_ago(now, -1)
    if period == "today":
        return period, day_start(now), tomorrow
    if period in ("7d", "30d", "90d"):
        return period, days_ago(now, int(period[:-1]) - 1), tomorrow
    if period == "month":
        return period, month_start(now), tomorrow
    if period == "last_month":
        this_month = month_start(now)
        return period, month_start(this_month - 1), this_month
    if period == "custom":
        if not query.get("from"):
            raise _bad("a custom period needs from=YYYY-MM-DD (and optionally to=YYYY-MM-DD, inclusive)")
        since = _date(query["from"], "from")
        until = _date(query["to"], "to") + 86400 if query.get("to") else tomorrow
        if until <= since:
            raise _bad("to must be on or after from")
        if until - since > _MAX_DAYS * 86400:
            raise _bad(f"a period may span {_MAX_DAYS} days at most")
        return period, since, until
    raise _bad(f"period must be one of {', '.join(PERIODS)}, got {period[:40]!r}")


def usage_query(
    viewer: Viewer, query: Mapping[str, str], *, now: float | None = None, top: int | None = None
) -> UsageQuery:
    """The checked query of a usage request; ``HttpError`` 400 for a bad value, 403 for another tenant's."""
    now = time.time() if now is None else now
    period, since, until = _period(query, now)
    by = query.get("by", "")
    if by not in BY:
        raise _bad(f"by must be one of {', '.join(k for k in BY if k)} (or empty), got {by[:40]!r}")
    days = (until - since) / 86400
    granularity = query.get("granularity") or ("hour" if days <= 1 else "day")
    if granularity not in ("hour", "day"):
        raise _bad(f"granularity must be hour or day, got {granularity[:40]!r}")
    if granularity == "hour" and days > _HOURLY_MAX_DAYS:
        raise _bad(f"hours are shown for periods of {_HOURLY_MAX_DAYS} days at most: pick day, or a shorter period")
    if top is None:
        text = query.get("top") or str(DEFAULT_TOP)
        if not text.isdigit() or int(text) > _MAX_TOP:
            raise _bad(f"top must be a whole number from 0 (every group) to {_MAX_TOP}, got {text[:40]!r}")
        top = int(text)
    where = viewer.usage_filter(
        tenant=query.get("tenant"),
        user=query.get("user"),
        model=query.get("model"),
        provider=query.get("provider"),
        api_key=query.get("api_key"),
    )
    params = {
        "period": period,
        "from": query.get("from", "") if period == "custom" else "",
        "to": query.get("to", "") if period == "custom" else "",
        "granularity": granularity,
        "by": by,
        **{name: value or "" for name, value in _filters(where).items()},
    }
    return UsageQuery(period, since, until, granularity, by, where, top, params)


def _filters(where: UsageFilter) -> dict[str, str | None]:
    return {
        "tenant": where.tenant,
        "user": where.user,
        "model": where.model,
        "provider": where.provider,
        "api_key": where.api_key,
    }


def _sums(p: UsagePoint) -> dict[str, Any]:
    return {
        "calls": p.calls,
        "failures": p.failures,
        "input_tokens": p.input_tokens,
        "output_tokens": p.output_tokens,
        "cost": p.cost,
        "unpriced": p.unpriced,
    }


def top_keys(groups: list[UsagePoint], top: int) -> list[str | None] | None:
    """The ``top`` costliest groups' keys (None: every group)."""
    if top <= 0 or len(groups) <= top:
        return None
    return [g.key for g in ranked(groups)[:top]]


def ranked(groups: list[UsagePoint]) -> list[UsagePoint]:
    return sorted(groups, key=lambda g: (-g.cost, -g.calls, g.key is None, g.key or ""))


def report(
    q: UsageQuery, groups: list[UsagePoint], points: list[UsagePoint], total: list[UsagePoint] | None
) -> dict[str, Any]:
    """The JSON answer: the buckets, every group's totals (most costly first), the points of the groups
    in ``points``, and, when those are only the top groups, ``other``: the rest's sum per bucket
    (``total`` is every call per bucket, from which it is computed)."""
    ordered = [{"key": g.key, **_sums(g)} for g in ranked(groups)]
    step = {"hour": 3600, "day": 86400}[q.granularity]
    buckets = [q.since + i * step for i in range(int((q.until - q.since) // step))]
    totals = {
        name: sum(g[name] for g in ordered)
        for name in ("calls", "failures", "input_tokens", "output_tokens", "cost", "unpriced")
    }
    other: list[dict[str, Any]] | None = None
    if total is not None:
        rest = {p.bucket: _sums(p) for p in total}
        for p in points:
            left = rest.get(p.bucket)
            if left is not None:
                for name, value in _sums(p).items():
                    left[name] -= value
        other = [{"bucket": b, **v} for b, v in sorted(rest.items()) if v["calls"] > 0]
    return {
        "object": "usage",
        "period": q.period,
        "since": _iso(q.since),
        "until": _iso(q.until),
        "granularity": q.granularity,
        "by": q.by or None,
        "filters": {k: v for k, v in _filters(q.where).items() if v is not None},
        "top": q.top,
        "buckets": buckets,
        "totals": totals,
        "groups": ordered,
        "points": [{"bucket": p.bucket, "key": p.key, **_sums(p)} for p in points],
        "other": other,
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def bucket_label(ts: float, granularity: str) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d %H:00") if granularity == "hour" else moment.strftime("%Y-%m-%d")
