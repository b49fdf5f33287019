"""Budgets: tokens and/or cost per scope per period (day, week, month, total).

A budget counter holds what settled calls *used* and what admitted calls
still *reserve*. ``admit`` holds the worst case (input estimate + max output
tokens, priced with the model's price); it is admitted only if used +
reserved + the worst case fits. ``settle`` replaces the hold with the actual
usage, ``release`` drops it, and a hold whose process died lapses after
``reservation_ttl``. A call that outlives ``reservation_ttl`` still counts when
it settles, but its hold no longer kept room for it: set the ttl above the
slowest call.

Periods start at midnight (day), Monday midnight (week, ISO) or the first of
the month, in UTC unless ``policies.timezone`` names an IANA zone; ``total``
never resets. Each period has its own counter, keyed by the period's start,
so a new period starts at zero without anything having to reset it.

Tool calls with a configured ``cost`` charge it (reserve before, settle after)
to the budgets with a ``max_cost`` that count them: a budget with ``tools``
globs counts only those tools; a budget with neither ``models`` nor ``tools``
counts model calls and every tool call; a budget with ``models`` never counts
tool calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from agentrt.config import BudgetSection
from agentrt.models import ModelSpec
from agentrt.policy.limits import stable_id
from agentrt.policy.reservation import cost_units_floor, usd
from agentrt.policy.rules import model_matches, tool_matches
from agentrt.policy.scopes import dimensions_of

__all__ = ["Budget", "PeriodClock", "compile_budgets", "zone"]

Period = Literal["day", "week", "month", "total"]

# A counter outlives its period by this much, so a call admitted just before the period
# ended can still settle into it; then the backends drop it.
_KEEP_AFTER_PERIOD = 2 * 86_400.0


def zone(name: str) -> tzinfo:
    """The time zone named ``name`` (``UTC`` without a zoneinfo lookup)."""
    if name == "UTC":
        return UTC
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


class PeriodClock:
    """The bounds of the current period of one kind, in one time zone; cached until the period ends."""

    __slots__ = ("_end", "_start", "period", "tz")

    def __init__(self, period: Period, tz: tzinfo) -> None:
        self.period = period
        self.tz = tz
        self._start = 0.0
        self._end: float | None = -1.0  # nothing cached yet

    def bounds(self, now: float) -> tuple[float, float | None]:
        """(start, end) of the period containing ``now``, epoch seconds; end is ``None`` for ``total``."""
        end = self._end
        if end is None or (self._start <= now < end):
            return self._start, end
        self._start, self._end = self._compute(now)
        return self._start, self._end

    def keep_until(self, now: float) -> float | None:
        """When a counter of the period containing ``now`` may be dropped."""
        end = self.bounds(now)[1]
        return None if end is None else end + _KEEP_AFTER_PERIOD

    def _compute(self, now: float) -> tuple[float, float | None]:
        if self.period == "total":
            return 0.0, None
        local = datetime.fromtimestamp(now, self.tz)
        day = local.date()
        if self.period == "day":
            first, following = day, day + timedelta(days=1)
        elif self.period == "week":
            first = day - timedelta(days=day.weekday())
            following = first + timedelta(days=7)
        else:
            first = day.replace(day=1)
            following = (first + timedelta(days=32)).replace(day=1)
        start = datetime(first.year, first.month, first.day, tzinfo=self.tz).timestamp()
        end = datetime(following.year, following.month, following.day, tzinfo=self.tz).timestamp()
        # Where a DST change skips midnight the computed start can land after `now`; clamp it.
        return min(start, now), end


@dataclass(frozen=True, slots=True)
class Budget:
    """One compiled budget. ``max_cost`` is in cost units (nano-USD), ``max_cost_usd`` as configured."""

    id: str
    scope: str
    dimensions: tuple[str, ...]
    period: Period
    max_tokens: int | None
    max_cost: int | None
    max_cost_usd: float | None
    warn_at: float
    models: tuple[str, ...] | None = None
    clip_output: bool = False
    """A call that does not fit is admitted with its output lowered to what is left (see ``headroom``)."""
    tools: tuple[str, ...] | None = None

    def applies_to(self, model: ModelSpec) -> bool:
        """Whether calls to ``model`` count against this budget (its ``models`` globs, by name or alias)."""
        return self.tools is None and (self.models is None or model_matches(self.models, model))

    def applies_to_tool(self, tool: str) -> bool:
        """Whether the cost of calls of ``tool`` (full name) counts against this budget."""
        if self.max_cost is None or self.models is not None:
            return False
        return self.tools is None or tool_matches(self.tools, tool)

    @property
    def label(self) -> str:
        """How messages name the budget: ``tenant month max_cost=$500 max_tokens=2000000``."""
        parts = [self.scope, self.period]
        if self.max_cost_usd is not None:
            parts.append(f"max_cost=${self.max_cost_usd:g}")
        if self.max_tokens is not None:
            parts.append(f"max_tokens={self.max_tokens}")
        if self.models is not None:
            parts.append(f"models={list(self.models)}")
        if self.tools is not None:
            parts.append(f"tools={list(self.tools)}")
        return " ".join(parts)


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def compile_budgets(sections: Iterable[BudgetSection]) -> tuple[Budget, ...]:
    """The budgets of the configuration, in order; equal scope, period and models merge (lower maxima win)."""
    merged: dict[str, Budget] = {}
    for section in sections:
        models = None if section.models is None else tuple(sorted(set(section.models)))
        tools = None if section.tools is None else tuple(sorted(set(section.tools)))
        extra = () if tools is None else ("tools", tools)  # model budgets keep their ids (and counts)
        budget_id = stable_id("budget", section.scope, section.period, models, *extra)
        max_cost = None if section.max_cost is None else cost_units_floor(section.max_cost)
        earlier = merged.get(budget_id)
        if earlier is not None:
            max_cost = _min(earlier.max_cost, max_cost)
            merged[budget_id] = Budget(
                budget_id,
                section.scope,
                earlier.dimensions,
                section.period,
                _min(earlier.max_tokens, section.max_tokens),
                max_cost,
                None if max_cost is None else usd(max_cost),
                min(earlier.warn_at, section.warn_at),
                models,
                earlier.clip_output or section.clip_output,
                tools,
            )
        else:
            merged[budget_id] = Budget(
                budget_id,
                section.scope,
                dimensions_of(section.scope),
                section.period,
                section.max_tokens,
                max_cost,
                section.max_cost,
                section.warn_at,
                models,
                section.clip_output,
                tools,
            )
    return tuple(merged.values())
