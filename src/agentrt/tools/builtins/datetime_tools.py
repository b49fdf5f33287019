"""The ``datetime`` built-in: the current time in a zone, a time converted between zones, a time plus a span.

Times go in and out as ISO 8601 text (``2026-03-01T09:30:00+01:00``), which
models read and write reliably; zones are IANA names (``Europe/Paris``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agentrt.config._tools import DatetimeOptions
from agentrt.tools._tool import Tool

__all__ = ["datetime_tools"]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris") from None


def _parse(time: str, zone: ZoneInfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(time.strip())
    except ValueError:
        raise ValueError(f"{time!r} is not an ISO 8601 time: write it like 2026-03-01T09:30:00+01:00") from None
    # A time without an offset is read in the zone the caller names (else the toolkit's).
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _described(moment: datetime) -> dict[str, str]:
    return {"time": moment.isoformat(), "timezone": str(moment.tzinfo), "weekday": moment.strftime("%A")}


def datetime_tools(options: DatetimeOptions) -> list[Tool[..., Any]]:
    """``now``, ``convert`` and ``add``; ``options.timezone`` is the zone used when none is named."""
    default_zone = options.timezone

    def now(timezone: str | None = None) -> dict[str, str]:
        """The current date and time.

        Args:
            timezone: An IANA time zone such as Europe/Paris; the toolkit's zone when omitted.
        """
        return _described(datetime.now(_zone(timezone or default_zone)))

    def convert(time: str, to_timezone: str, from_timezone: str | None = None) -> dict[str, str]:
        """The same moment in another time zone.

        Args:
            time: An ISO 8601 time, e.g. 2026-03-01T09:30:00; with an offset, from_timezone is ignored.
            to_timezone: The IANA zone to express it in, e.g. America/New_York.
            from_timezone: The zone of a time written without an offset; the toolkit's zone when omitted.
        """
        moment = _parse(time, _zone(from_timezone or default_zone))
        return _described(moment.astimezone(_zone(to_timezone)))

    def add(time: str, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> dict[str, str]:
        """A time plus (or, with negative numbers, minus) days, hours, minutes and seconds. Days are calendar
        days (the same clock time, across a daylight-saving change); hours, minutes and seconds are elapsed time.

        Args:
            time: An ISO 8601 time; without an offset it is read in the toolkit's zone.
            days: Days to add.
            hours: Hours to add.
            minutes: Minutes to add.
            seconds: Seconds to add.
        """
        moment = _parse(time, _zone(default_zone))
        try:
            on_the_day = moment + timedelta(days=days)  # aware + timedelta keeps the clock time
            elapsed = timedelta(hours=hours, minutes=minutes, seconds=seconds)
            result = (on_the_day.astimezone(UTC) + elapsed).astimezone(moment.tzinfo)
        except OverflowError:
            raise ValueError("the result is outside the years 1 to 9999") from None
        return _described(result)

    return [
        Tool.from_function(now, name="now"),
        Tool.from_function(convert, name="convert"),
        Tool.from_function(add, name="add"),
    ]
