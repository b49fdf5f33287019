"""Pydantic AI, its OpenAI chat model pointed at ``agentrt serve``: a plain run, a stream and a tool loop,
to every kind.

Pydantic AI keeps its own message history and rebuilds each request from it: only
what it understands of a response (text, tool call ids, names and arguments) goes
back, so the gateway must carry whatever the provider needs in those.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from clients_gateway import (
    CLIENT_KEY,
    FINAL_TEXT,
    OUTPUT_CAP,
    PLAIN_TEXT,
    REPORT,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    WEATHER,
    Gateway,
    Target,
    assert_no_forced_tool_with_thinking,
    assert_output_cap_reached_upstream,
    assert_sent_once,
    assert_tool_loop_reached_upstream,
    get_weather,
    script_context_length_exceeded,
    script_plain,
    script_report,
    script_tool_loop,
)
from pydantic import BaseModel

pytest.importorskip("openai", reason="the openai package is not installed: pip install -e '.[dev]'")
with warnings.catch_warnings():
    # Pydantic AI's own TypedDicts use ReadOnly, which pydantic warns about on import: not ours to fix.
    warnings.simplefilter("ignore", UserWarning)
    pytest.importorskip("pydantic_ai", reason="Pydantic AI is not installed: pip install -e '.[dev]'")
    from pydantic_ai import Agent
    from pydantic_ai.exceptions import ModelContextWindowExceededError
    from pydantic_ai.messages import ToolCallPart, ToolReturnPart
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

from openai import AsyncOpenAI

from agentrt.testing import Reply

pytestmark = [pytest.mark.clients, pytest.mark.asyncio(loop_scope="module")]

PROMPT = "What is the capital of France?"


@pytest_asyncio.fixture(loop_scope="module")
async def model(gateway: Gateway, target: Target) -> AsyncIterator[OpenAIChatModel]:
    async with AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0) as client:
        yield OpenAIChatModel(target.model, provider=OpenAIProvider(openai_client=client))


async def test_plain_run(model: OpenAIChatModel, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    result = await Agent(model).run(PROMPT, model_settings={"max_tokens": OUTPUT_CAP})
    assert result.output == PLAIN_TEXT
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens) == (12, 7)
    assert_output_cap_reached_upstream(gateway, target)


async def test_stream(model: OpenAIChatModel, gateway: Gateway) -> None:
    script_plain(gateway)
    async with Agent(model).run_stream(PROMPT) as result:
        pieces = [piece async for piece in result.stream_text(delta=True, debounce_by=None)]
    assert "".join(pieces) == PLAIN_TEXT
    assert len(pieces) > 1  # it came in pieces, as streamed


async def test_tool_loop(model: OpenAIChatModel, gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway)
    agent = Agent(model, tools=[get_weather])
    result = await agent.run("What is the weather in Paris?")
    assert result.output == FINAL_TEXT
    parts = [part for message in result.all_messages() for part in message.parts]
    calls = [p for p in parts if isinstance(p, ToolCallPart)]
    returns = [p for p in parts if isinstance(p, ToolReturnPart)]
    assert [(c.tool_name, c.args_as_dict()) for c in calls] == [(TOOL_NAME, TOOL_ARGUMENTS)]
    assert len(returns) == 1
    assert returns[0].tool_call_id == calls[0].tool_call_id
    assert_tool_loop_reached_upstream(gateway, target)


async def test_streamed_tool_loop(model: OpenAIChatModel, gateway: Gateway, target: Target) -> None:
    # No text before the calls: run_stream takes the first text it streams as the run's output.
    script_tool_loop(gateway, preamble=False)
    agent = Agent(model, tools=[get_weather])
    async with agent.run_stream("What is the weather in Paris?") as result:
        output = await result.get_output()
    assert output == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)


async def test_two_tool_calls_in_one_turn(model: OpenAIChatModel, gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway, "Paris", "London")
    result = await Agent(model, tools=[get_weather]).run("Weather in Paris and London?")
    assert result.output == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target, "Paris", "London")


class WeatherReport(BaseModel):
    city: str
    temperature_c: float
    conditions: list[str]


async def test_three_turn_tool_loop(model: OpenAIChatModel, gateway: Gateway, target: Target) -> None:
    """Two tool turns before the answer: the history holds two turns of reasoning, each to be sent back intact."""
    gateway.up.script(
        Reply(text="Paris first.", tool_calls=[(TOOL_NAME, {"city": "Paris"})], thinking="Paris, then London."),
        Reply(text="Now London.", tool_calls=[(TOOL_NAME, {"city": "London"})], thinking="Paris done; London."),
        Reply(text=FINAL_TEXT),
    )
    result = await Agent(model, tools=[get_weather]).run("Weather in Paris, then in London?")
    assert result.output == FINAL_TEXT
    requests = gateway.chat_requests()
    assert len(requests) == 3
    last = json.dumps(requests[-1].body)
    assert all(WEATHER[city] in last for city in ("Paris", "London")), last

async def test_structured_output(model: OpenAIChatModel, gateway: Gateway, target: Target) -> None:
    """``output_type=Model``: Pydantic AI's default is an output tool, forced with ``tool_choice: required``."""
    script_report(gateway, as_tool="final_result")
    result = await Agent(model, output_type=WeatherReport).run("The weather in Paris, as a report.")
    assert result.output == WeatherReport(**REPORT)
    (request,) = gateway.chat_requests()
    assert "final_result" in json.dumps(request.body["tools"])
    assert_no_forced_tool_with_thinking(gateway, target)


async def test_context_length_exceeded(gateway: Gateway, target: Target) -> None:
    """Pydantic AI's own ModelContextWindowExceededError; not resent (the SDK's default retries left on)."""
    script_context_length_exceeded(gateway)
    async with AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY) as client:
        agent = Agent(OpenAIChatModel(target.model, provider=OpenAIProvider(openai_client=client)))
        with pytest.raises(ModelContextWindowExceededError):
            await agent.run(PROMPT)
    assert_sent_once(gateway)
