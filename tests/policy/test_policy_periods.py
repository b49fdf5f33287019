"""Budget periods: where days, ISO weeks and months start and end, in UTC and in a configured zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrt.policy.budgets import PeriodClock, zone


def at(*args: int, tz: str = "UTC") -> float:
    return datetime(*args, tzinfo=zone(tz)).timestamp()  # type: ignore[misc]


def bounds(period: str, now: float, tz: str = "UTC") -> tuple[str, str | None]:
    clock = PeriodClock(period, zone(tz))  # type: ignore[arg-type]
    start, end = clock.bounds(now)
    as_text = lambda t: datetime.fromtimestamp(t, zone(tz)).isoformat()  # noqa: E731
    return as_text(start), None if end is None else as_text(end)


def test_a_day_runs_from_midnight_to_midnight_utc() -> None:
    assert bounds("day", at(2025, 6, 15, 13, 5)) == ("2025-06-15T00:00:00+00:00", "2025-06-16T00:00:00+00:00")


def test_a_week_starts_on_monday() -> None:
    sunday = at(2025, 6, 15, 23, 59)
    assert bounds("week", sunday) == ("2025-06-09T00:00:00+00:00", "2025-06-16T00:00:00+00:00")
    monday = at(2025, 6, 16)
    assert bounds("week", monday) == ("2025-06-16T00:00:00+00:00", "2025-06-23T00:00:00+00:00")


def test_a_month_runs_to_the_first_of_the_next_even_across_a_year() -> None:
    assert bounds("month", at(2025, 12, 31, 23)) == ("2025-12-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00")
    assert bounds("month", at(2024, 2, 29)) == ("2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00")


def test_total_never_ends() -> None:
    clock = PeriodClock("total", UTC)
    assert clock.bounds(at(2025, 1, 1)) == (0.0, None)
    assert clock.keep_until(at(2025, 1, 1)) is None


def test_a_day_in_a_zone_follows_its_clock_changes() -> None:
    # Paris moved its clocks forward on 30 March 2025: that day lasted 23 hours.
    start, end = PeriodClock("day", zone("Europe/Paris")).bounds(at(2025, 3, 30, 12, tz="Europe/Paris"))
    assert end is not None
    assert end - start == 23 * 3600
    assert bounds("day", at(2025, 3, 30, 12, tz="Europe/Paris"), "Europe/Paris") == (
        "2025-03-30T00:00:00+01:00",
        "2025-03-31T00:00:00+02:00",
    )


def test_the_cache_moves_on_when_a_period_ends_and_when_time_goes_back() -> None:
    clock = PeriodClock("day", UTC)
    first = clock.bounds(at(2025, 6, 15, 12))
    assert clock.bounds(at(2025, 6, 15, 23, 59)) == first
    assert clock.bounds(at(2025, 6, 16))[0] == at(2025, 6, 16)
    assert clock.bounds(at(2025, 6, 14, 1)) == (at(2025, 6, 14), at(2025, 6, 15))


@pytest.mark.parametrize("period", ["day", "week", "month"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/Santiago", "Asia/Kathmandu"])
@given(now=st.floats(min_value=0, max_value=4_000_000_000))
def test_every_instant_lies_in_its_period_and_periods_tile_time(period: str, tz: str, now: float) -> None:
    clock = PeriodClock(period, zone(tz))  # type: ignore[arg-type]
    start, end = clock.bounds(now)
    assert end is not None
    assert start <= now < end
    assert PeriodClock(period, zone(tz)).bounds(end)[0] == end  # type: ignore[arg-type]
