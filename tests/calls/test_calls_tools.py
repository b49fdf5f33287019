"""The tool loop: the model asks, the tool runs, the model gets the answer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from calls_support import log_events, open_runtime

from agentrt.errors import ToolError
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools import tool
from agentrt.types import Completed, TextDelta

calls_seen: list[tuple[str, int]] = []


@tool
def get_weather(city: str, days: int = 1) -> dict[str, object]:
    """The forecast for a city.

    Args:
        city: The city, e.g. "Paris".
        days: How many days ahead.
    """
    calls_seen.append((city, threading.get_ident()))
    return {"city": city, "days": days, "sky": "sunny"}


@tool
async def broken(order: str) -> str:
    """Always fails."""
    raise RuntimeError(f"database down while reading {order}")


async def test_the_loop_runs_the_tool_and_hands_the_result_back(up: FakeUpstream, tmp_path: Path) -> None:
    calls_seen.clear()
    up.script(Reply(tool_calls=[("get_weather", {"city": "Paris", "days": "2"})], usage=(10, 5)))
    up.script(Reply(text="Sunny in Paris for two days.", usage=(30, 8)))
    async with open_runtime(up, tmp_path) as rt:
        c = await rt.generate("primary", "weather in Paris?", tools=[get_weather])
        tool_logs = log_events(rt, "tool_call")
    assert c.text == "Sunny in Paris for two days."
    assert (c.usage.input_tokens, c.usage.output_tokens) == (40, 13)  # both steps
    assert [m.role for m in c.messages] == ["user", "assistant", "tool", "assistant"]
    assert calls_seen[0][0] == "Paris"
    assert calls_seen[0][1] != threading.get_ident()  # a sync tool runs off the event loop
    first, second = up.requests
    assert first.body["tools"][0]["function"]["name"] == "get_weather"
    tool_message = second.body["messages"][-1]
    assert tool_message["role"] == "tool"
    assert '"sky":"sunny"' in tool_message["content"]
    assert '"days":2' in tool_message["content"]  # arguments were validated and coerced
    assert tool_logs[0]["outcome"] == "ok"


async def test_a_tool_error_goes_back_to_the_model_and_to_the_log(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("broken", {"order": "A-1"})]), Reply(text="Sorry, I could not check."))
    async with open_runtime(up, tmp_path) as rt:
        c = await rt.generate("primary", "check A-1", tools=[broken])
        failures = log_events(rt, "tool_failed")
    assert c.text == "Sorry, I could not check."
    assert "database down while reading A-1" in up.requests[1].body["messages"][-1]["content"]
    assert failures[0]["tool"] == "broken"


async def test_a_made_up_tool_name_is_told_to_the_model(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("teleport", {})]), Reply(text="ok"))
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("primary", "go", tools=[get_weather])
    answer = up.requests[1].body["messages"][-1]["content"]
    assert "teleport" in answer
    assert "get_weather" in answer


async def test_max_steps_bounds_the_loop(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(*[Reply(tool_calls=[("get_weather", {"city": "Oslo"})]) for _ in range(3)])
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ToolError, match="max_steps=3"):
            await rt.generate("primary", "loop", tools=[get_weather], max_steps=3)
    assert len(up.requests) == 3


async def test_the_loop_also_runs_while_streaming(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("get_weather", {"city": "Rome"})]), Reply(text="Rome is sunny."))
    async with open_runtime(up, tmp_path) as rt:
        events = [e async for e in rt.stream("primary", "weather?", tools=[get_weather])]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Rome is sunny."
    final = events[-1]
    assert isinstance(final, Completed)
    assert [m.role for m in final.completion.messages] == ["user", "assistant", "tool", "assistant"]
