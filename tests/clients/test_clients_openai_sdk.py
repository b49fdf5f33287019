"""The official openai SDK against ``agentrt serve``: a plain call, a stream and a tool loop, to every kind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from clients_gateway import (
    CLIENT_KEY,
    FINAL_TEXT,
    OPENAI_REFUSAL,
    OPENAI_TOOLS,
    OUTPUT_CAP,
    PLAIN_TEXT,
    REPORT,
    TARGETS,
    TOOL_ARGUMENTS,
    TOOL_NAME,
    Gateway,
    Target,
    add_tool_call_deltas,
    assert_output_cap_reached_upstream,
    assert_sent_once,
    assert_structured_output_reached_upstream,
    assert_tool_loop_reached_upstream,
    get_weather,
    script_context_length_exceeded,
    script_plain,
    script_refusal,
    script_report,
    script_tool_loop,
)
from pydantic import BaseModel

openai = pytest.importorskip("openai", reason="the openai package is not installed: pip install -e '.[dev]'")

pytestmark = [pytest.mark.clients, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def client(gateway: Gateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


async def test_plain_call(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    completion = await client.chat.completions.create(
        model=target.model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=OUTPUT_CAP,  # the older name, which much code still sends
    )
    assert completion.choices[0].message.content == PLAIN_TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 7)
    assert_output_cap_reached_upstream(gateway, target)


async def test_stream(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    stream = await client.chat.completions.create(
        model=target.model,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finishes, usage = [], [], None
    async for chunk in stream:
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
        usage = chunk.usage or usage
    assert "".join(pieces) == PLAIN_TEXT
    assert len([p for p in pieces if p]) > 1  # it came in pieces, as streamed
    assert [f for f in finishes if f] == ["stop"]
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 7)


async def test_tool_loop(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = await client.chat.completions.create(model=target.model, messages=messages, tools=OPENAI_TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == (TOOL_NAME, TOOL_ARGUMENTS)
    # What the SDK's own examples do: the assistant message goes back as the SDK returned it.
    messages.append(choice.message)
    result = get_weather(**json.loads(call.function.arguments))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = await client.chat.completions.create(model=target.model, messages=messages, tools=OPENAI_TOOLS)
    assert second.choices[0].message.content == FINAL_TEXT
    assert second.choices[0].finish_reason == "stop"
    assert_tool_loop_reached_upstream(gateway, target)


async def test_streamed_tool_loop(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    """Both turns streamed; the assistant message is rebuilt from the deltas, as streaming code does."""
    script_tool_loop(gateway)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    stream = await client.chat.completions.create(
        model=target.model, messages=messages, tools=OPENAI_TOOLS, stream=True
    )
    calls: dict[int, dict[str, Any]] = {}
    finishes = []
    async for chunk in stream:
        for choice in chunk.choices:
            finishes.append(choice.finish_reason)
            add_tool_call_deltas(calls, choice.delta.tool_calls)
    assert [f for f in finishes if f] == ["tool_calls"]
    (call,) = calls.values()
    arguments = json.loads(call["function"]["arguments"])
    assert (call["function"]["name"], arguments) == (TOOL_NAME, TOOL_ARGUMENTS)
    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": get_weather(**arguments)})
    second = await client.chat.completions.create(
        model=target.model, messages=messages, tools=OPENAI_TOOLS, stream=True
    )
    text = "".join([choice.delta.content or "" async for chunk in second for choice in chunk.choices])
    assert text == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)


async def test_stream_helper_tool_loop(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    """The SDK's own streaming helper (``chat.completions.stream``) rebuilds the message it passes back."""
    script_tool_loop(gateway, "Paris", "London")
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris and London?"}]
    async with client.chat.completions.stream(model=target.model, messages=messages, tools=OPENAI_TOOLS) as stream:
        first = await stream.get_final_completion()
    message = first.choices[0].message
    assert message.tool_calls is not None
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"city": "Paris"}, {"city": "London"}]
    messages.append(message)
    for call in message.tool_calls:
        result = get_weather(**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    async with client.chat.completions.stream(model=target.model, messages=messages, tools=OPENAI_TOOLS) as stream:
        second = await stream.get_final_completion()
    assert second.choices[0].message.content == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target, "Paris", "London")

async def test_two_tool_calls_in_one_turn(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_tool_loop(gateway, "Paris", "London")
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris and London?"}]
    first = await client.chat.completions.create(model=target.model, messages=messages, tools=OPENAI_TOOLS)
    message = first.choices[0].message
    assert message.tool_calls is not None
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [{"city": "Paris"}, {"city": "London"}]
    messages.append(message)
    for call in message.tool_calls:
        result = get_weather(**json.loads(call.function.arguments))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = await client.chat.completions.create(model=target.model, messages=messages, tools=OPENAI_TOOLS)
    assert second.choices[0].message.content == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target, "Paris", "London")


class WeatherReport(BaseModel):
    city: str
    temperature_c: float
    conditions: list[str]


async def test_structured_output(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    """``parse(response_format=Model)``: a strict json_schema, which each kind must pass on as its own."""
    script_report(gateway)
    completion = await client.chat.completions.parse(
        model=target.model,
        messages=[{"role": "user", "content": "The weather in Paris, as a report."}],
        response_format=WeatherReport,
    )
    assert completion.choices[0].message.parsed == WeatherReport(**REPORT)
    assert_structured_output_reached_upstream(gateway, target)


async def test_context_length_exceeded(gateway: Gateway, target: Target) -> None:
    """A 400 with OpenAI's code, which the SDK does not resend (its default 2 retries left on)."""
    script_context_length_exceeded(gateway)
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=CLIENT_KEY) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=target.model, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "context_length_exceeded"
    assert_sent_once(gateway)


def assert_declined(refusal: str | None, content: str | None, finish_reason: str | None, target: Target) -> None:
    """The client can tell the model declined: OpenAI's ``refusal`` words, or its ``content_filter`` finish."""
    assert not content, content
    if target.api == "openai":
        assert (refusal, finish_reason) == (OPENAI_REFUSAL, "stop")
    else:
        assert refusal or finish_reason == "content_filter", (refusal, finish_reason)


async def test_refusal(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_refusal(gateway, target, stream=False)
    completion = await client.chat.completions.create(
        model=target.model, messages=[{"role": "user", "content": "Something the model declines."}]
    )
    choice = completion.choices[0]
    assert_declined(choice.message.refusal, choice.message.content, choice.finish_reason, target)


async def test_streamed_refusal(client: openai.AsyncOpenAI, gateway: Gateway, target: Target) -> None:
    script_refusal(gateway, target, stream=True)
    stream = await client.chat.completions.create(
        model=target.model, messages=[{"role": "user", "content": "Something the model declines."}], stream=True
    )
    refusal, content, finishes = "", "", []
    async for chunk in stream:
        for choice in chunk.choices:
            refusal += choice.delta.refusal or ""
            content += choice.delta.content or ""
            finishes.append(choice.finish_reason)
    (finish,) = [f for f in finishes if f]
    assert_declined(refusal or None, content, finish, target)


@pytest.mark.parametrize(
    ("parameter", "value"), [("temperature", 0.2), ("top_p", 0.5), ("max_tokens", 500)], ids=lambda x: str(x)
)
async def test_thinking_model_and_a_sampling_parameter_it_cannot_take(
    client: openai.AsyncOpenAI, gateway: Gateway, parameter: str, value: float
) -> None:
    """Extended thinking, set in the model's config, rules out what an OpenAI client commonly sends
    (temperature other than 1, top_p under 0.95, max_tokens not above the thinking budget). The client
    cannot know the model thinks: the call works (the parameter adjusted) or its 400 says why."""
    thinking = next(t for t in TARGETS if t.reasoning == "thinking")
    script_plain(gateway)
    try:
        completion = await client.chat.completions.create(
            model=thinking.model, messages=[{"role": "user", "content": "hi"}], **{parameter: value}
        )
        outcome = completion.choices[0].message.content or ""
    except openai.BadRequestError as refused:
        outcome = refused.message
    assert outcome == PLAIN_TEXT or (parameter in outcome and "thinking" in outcome), outcome
