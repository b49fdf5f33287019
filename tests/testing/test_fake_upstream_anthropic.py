"""The Anthropic wire format of FakeUpstream, judged by the official anthropic SDK as its client."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import pytest
from fake_upstream_support import API_KEY
from pydantic import BaseModel

from agentrt.testing import FakeUpstream, Fault, Reply

MODEL = "claude-haiku-4-5"
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class Invoice(BaseModel):
    number: str
    total: float
    lines: list[str]


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=upstream.anthropic_base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


async def test_plain_call_parses_text_usage_and_id(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    upstream.script(Reply(text="Hello, world", usage=(20, 5), cached_tokens=8))

    message = await client.messages.create(model=MODEL, max_tokens=100, messages=user("hi"))

    assert message.id == "msg_fake000001"
    assert message.model == MODEL
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello, world"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    # Anthropic reports cache reads apart from the uncached input.
    assert message.usage.input_tokens == 12
    assert message.usage.cache_read_input_tokens == 8
    assert message.usage.output_tokens == 5


async def test_unscripted_call_echoes_and_counts_the_system_prompt(client: anthropic.AsyncAnthropic) -> None:
    messages: Any = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]

    message = await client.messages.create(model=MODEL, max_tokens=100, system="be brief", messages=messages)

    assert message.content[0].text == "echo: second question"  # type: ignore[union-attr]
    input_chars = len("be brief") + len("first") + len("answer") + len("second question")
    assert message.usage.input_tokens == math.ceil(input_chars / 4)


async def test_stream_text_deltas_concatenate_and_usage_comes_at_the_end(
    upstream: FakeUpstream, client: anthropic.AsyncAnthropic
) -> None:
    upstream.script(Reply(text="The quick brown fox jumps", chunk_size=5, usage=(9, 6)))

    async with client.messages.stream(model=MODEL, max_tokens=100, messages=user("go")) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert pieces == ["The q", "uick ", "brown", " fox ", "jumps"]
    assert final.content[0].text == "The quick brown fox jumps"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 6)


async def test_stream_events_come_in_the_documented_order(client: anthropic.AsyncAnthropic) -> None:
    stream = await client.messages.create(model=MODEL, max_tokens=100, messages=user("hello"), stream=True)
    kinds = [event.type async for event in stream]

    # (the SDK swallows the ping events; test_fake_upstream_wire.py sees them on the wire)
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}


async def test_tool_use_plain(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    upstream.script(Reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Paris"})]))

    message = await client.messages.create(model=MODEL, max_tokens=100, messages=user("weather?"), tools=[WEATHER_TOOL])

    assert message.stop_reason == "tool_use"
    text, tool_use = message.content
    assert text.type == "text"
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.name, tool_use.input) == ("toolu_fake000001", "get_weather", {"city": "Paris"})
    assert upstream.requests[0].body["tools"][0]["name"] == "get_weather"


async def test_tool_use_streamed_as_input_json_deltas(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    arguments = {"city": "Paris", "unit": "celsius"}
    upstream.script(Reply(tool_calls=[("get_weather", arguments)], chunk_size=4))

    async with client.messages.stream(
        model=MODEL, max_tokens=100, messages=user("weather?"), tools=[WEATHER_TOOL]
    ) as stream:
        json_fragments = [event.partial_json async for event in stream if event.type == "input_json"]
        final = await stream.get_final_message()

    assert len(json_fragments) > 1
    assert [block.type for block in final.content] == ["tool_use"]
    tool_use = final.content[0]
    assert tool_use.name == "get_weather"  # type: ignore[union-attr]
    assert tool_use.input == arguments  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"


async def test_json_output_parses_into_the_model(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.parse(
        model=MODEL, max_tokens=100, messages=user("an invoice"), output_format=Invoice
    )

    assert isinstance(message.parsed_output, Invoice)
    assert upstream.requests[0].body["output_config"]["format"]["type"] == "json_schema"


async def test_rate_limit_with_retry_after(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    upstream.script(Fault(status=429, message="slow down", retry_after=1.5))

    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model=MODEL, max_tokens=100, messages=user("hi"))

    assert caught.value.response.headers["retry-after"] == "1.5"
    assert caught.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}


async def test_wrong_key_is_an_authentication_error(upstream: FakeUpstream) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=upstream.anthropic_base_url, api_key="wrong-key", max_retries=0
    ) as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await client.messages.create(model=MODEL, max_tokens=100, messages=user("hi"))

    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert "wrong-key" not in str(caught.value)


async def test_context_length_error_shape(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    upstream.script(Fault(error_code="context_length_exceeded"))

    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model=MODEL, max_tokens=100, messages=user("long"))

    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("prompt is too long: ")


async def test_overloaded_529(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    upstream.script(Fault(status=529, message="Overloaded"))

    with pytest.raises(anthropic.OverloadedError) as caught:
        await client.messages.create(model=MODEL, max_tokens=100, messages=user("hi"))

    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_server_error_500(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    upstream.script(Fault(status=500))

    with pytest.raises(anthropic.InternalServerError) as caught:
        await client.messages.create(model=MODEL, max_tokens=100, messages=user("hi"))

    assert caught.value.status_code == 500
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]


async def test_models_list(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    ids = [model.id async for model in client.models.list()]

    assert MODEL in ids
    assert upstream.requests[0].api == "anthropic"
