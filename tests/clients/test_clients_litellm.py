"""LiteLLM as a client (``openai/<model>`` at ``api_base``) against ``agentrt serve``: a plain call, a
stream and a tool loop, to every kind."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clients_gateway import (
    CLIENT_KEY,
    FINAL_TEXT,
    OPENAI_TOOLS,
    OUTPUT_CAP,
    PLAIN_TEXT,
    REPORT,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    Gateway,
    Target,
    assert_output_cap_reached_upstream,
    assert_sent_once,
    assert_structured_output_reached_upstream,
    assert_tool_loop_reached_upstream,
    get_weather,
    script_context_length_exceeded,
    script_plain,
    script_report,
    script_tool_loop,
)
from pydantic import BaseModel

litellm = pytest.importorskip("litellm", reason="LiteLLM is not installed: pip install -e '.[dev]'")

pytestmark = [
    pytest.mark.clients,
    pytest.mark.asyncio(loop_scope="module"),
    # LiteLLM's own use of pydantic (ReadOnly TypedDicts, deprecated attribute access, re-serializing a
    # message it returned): noise about LiteLLM's internals, not about what the gateway sent.
    pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:litellm.*"),
    pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning"),
]


def call_options(gateway: Gateway, target: Target) -> dict[str, Any]:
    return {"model": f"openai/{target.model}", "api_base": gateway.base_url, "api_key": CLIENT_KEY, "max_retries": 0}


async def test_plain_call(gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    response = await litellm.acompletion(
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=OUTPUT_CAP,
        **call_options(gateway, target),
    )
    assert response.choices[0].message.content == PLAIN_TEXT
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (12, 7)
    assert_output_cap_reached_upstream(gateway, target)


async def test_stream(gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    stream = await litellm.acompletion(
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        stream=True,
        stream_options={"include_usage": True},
        **call_options(gateway, target),
    )
    pieces, finishes, usage = [], [], None
    async for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
        usage = getattr(chunk, "usage", None) or usage
    assert "".join(pieces) == PLAIN_TEXT
    assert len([p for p in pieces if p]) > 1  # it came in pieces, as streamed
    assert [f for f in finishes if f] == ["stop"]
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 7)


async def test_tool_loop(gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await litellm.acompletion(messages=messages, tools=OPENAI_TOOLS, **call_options(gateway, target))
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (TOOL_NAME, TOOL_ARGUMENTS)
    # As LiteLLM's docs do it: the response's message goes back as it came.
    messages.append(choice.message)
    messages.append(
        {"role": "tool", "tool_call_id": call.id, "content": get_weather(**json.loads(call.function.arguments))}
    )
    second = await litellm.acompletion(messages=messages, tools=OPENAI_TOOLS, **call_options(gateway, target))
    assert second.choices[0].message.content == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)


async def test_streamed_tool_loop(gateway: Gateway, target: Target) -> None:
    """Both turns streamed; the response rebuilt with ``litellm.stream_chunk_builder``, as LiteLLM's docs do."""
    script_tool_loop(gateway)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    options = {**call_options(gateway, target), "tools": OPENAI_TOOLS, "stream": True}
    stream = await litellm.acompletion(messages=messages, **options)
    chunks = [chunk async for chunk in stream]
    first = litellm.stream_chunk_builder(chunks, messages=messages)
    (call,) = first.choices[0].message.tool_calls
    arguments = json.loads(call.function.arguments)
    assert (call.function.name, arguments) == (TOOL_NAME, TOOL_ARGUMENTS)
    messages.append(first.choices[0].message)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": get_weather(**arguments)})
    second = await litellm.acompletion(messages=messages, **options)
    text = "".join([choice.delta.content or "" async for chunk in second for choice in chunk.choices])
    assert text == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)


async def test_two_tool_calls_in_one_turn(gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway, "Paris", "London")
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris and London?"}]
    first = await litellm.acompletion(messages=messages, tools=OPENAI_TOOLS, **call_options(gateway, target))
    message = first.choices[0].message
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"city": "Paris"}, {"city": "London"}]
    messages.append(message)
    for call in message.tool_calls:
        result = get_weather(**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = await litellm.acompletion(messages=messages, tools=OPENAI_TOOLS, **call_options(gateway, target))
    assert second.choices[0].message.content == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target, "Paris", "London")


class WeatherReport(BaseModel):
    city: str
    temperature_c: float
    conditions: list[str]


async def test_structured_output(gateway: Gateway, target: Target) -> None:
    """``response_format=Model``: LiteLLM sends it as a strict json_schema."""
    script_report(gateway)
    response = await litellm.acompletion(
        messages=[{"role": "user", "content": "The weather in Paris, as a report."}],
        response_format=WeatherReport,
        **call_options(gateway, target),
    )
    assert WeatherReport.model_validate_json(response.choices[0].message.content) == WeatherReport(**REPORT)
    assert_structured_output_reached_upstream(gateway, target)


async def test_context_length_exceeded(gateway: Gateway, target: Target) -> None:
    """LiteLLM's own ContextWindowExceededError: what its context-window fallbacks act on."""
    script_context_length_exceeded(gateway)
    with pytest.raises(litellm.ContextWindowExceededError):
        await litellm.acompletion(
            messages=[{"role": "user", "content": "hi"}], **{**call_options(gateway, target), "max_retries": 2}
        )
    assert_sent_once(gateway)
