"""The datetime built-in: now in a zone, conversion between zones, a time plus a span."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from agentrt.config._tools import DatetimeOptions
from agentrt.tools import Tool
from agentrt.tools.builtins.datetime_tools import datetime_tools


def tools(zone: str = "UTC") -> dict[str, Tool[..., object]]:
    return {t.name: t for t in datetime_tools(DatetimeOptions(timezone=zone))}


async def answer(tool: Tool[..., object], **arguments: object) -> dict[str, str]:
    result: dict[str, str] = orjson.loads(await tool.invoke(arguments))
    return result


async def test_now_is_now_in_the_named_or_configured_zone() -> None:
    kit = tools("Europe/Paris")
    before = datetime.now(ZoneInfo("UTC"))
    paris = await answer(kit["now"])
    tokyo = await answer(kit["now"], timezone="Asia/Tokyo")
    after = datetime.now(ZoneInfo("UTC"))
    assert paris["timezone"] == "Europe/Paris"
    assert tokyo["time"].endswith("+09:00")
    assert before <= datetime.fromisoformat(paris["time"]) <= after


async def test_convert_and_add() -> None:
    kit = tools("America/New_York")
    converted = await answer(kit["convert"], time="2026-03-01T09:30:00", to_timezone="Europe/London")
    assert converted == {"time": "2026-03-01T14:30:00+00:00", "timezone": "Europe/London", "weekday": "Sunday"}
    # Across the spring clock change (2am on 8 March 2026 in New York): a day keeps the clock time,
    # hours are elapsed time.
    next_day = await answer(kit["add"], time="2026-03-07T12:00:00", days=1)
    assert next_day["time"] == "2026-03-08T12:00:00-04:00"
    later = await answer(kit["add"], time="2026-03-08T00:00:00", hours="3.5")
    assert later["time"] == "2026-03-08T04:30:00-04:00"
    start = datetime(2026, 3, 8, tzinfo=ZoneInfo("America/New_York"))
    assert datetime.fromisoformat(later["time"]) - start == timedelta(hours=3.5)


async def test_bad_input_says_what_to_write() -> None:
    kit = tools()
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        await kit["now"].invoke({"timezone": "Mars/Olympus"})
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        await kit["add"].invoke({"time": "next tuesday"})
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        await kit["add"].invoke({"time": "9999-12-31T00:00:00", "days": 2})
