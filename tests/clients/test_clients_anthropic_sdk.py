"""The official anthropic SDK against ``agentrt serve``'s ``/v1/messages``: plain, stream and a tool loop,
to every provider kind (the gateway translates for a model that is not Anthropic's)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from clients_gateway import (
    CLIENT_KEY,
    FINAL_TEXT,
    OUTPUT_CAP,
    PLAIN_TEXT,
    REPORT,
    TOOL_ARGUMENTS,
    TOOL_DESCRIPTION,
    TOOL_NAME,
    TOOL_PARAMETERS,
    Gateway,
    Target,
    assert_no_forced_tool_with_thinking,
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

from agentrt.testing import Fault, Reply

anthropic = pytest.importorskip("anthropic", reason="the anthropic package is not installed: pip install -e '.[dev]'")

pytestmark = [pytest.mark.clients, pytest.mark.asyncio(loop_scope="module")]

TOOLS: list[Any] = [{"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": TOOL_PARAMETERS}]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest_asyncio.fixture(loop_scope="module")
async def client(gateway: Gateway) -> AsyncIterator[anthropic.AsyncAnthropic]:
    # The SDK appends /v1/messages to the base URL, as Claude Code does with ANTHROPIC_BASE_URL.
    async with anthropic.AsyncAnthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


async def test_plain_call(client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    message = await client.messages.create(model=target.model, max_tokens=OUTPUT_CAP, messages=QUESTION)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == PLAIN_TEXT  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.role == "assistant"
    assert message.model == target.model
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)
    assert_output_cap_reached_upstream(gateway, target)


async def test_stream(client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target) -> None:
    script_plain(gateway)
    pieces: list[str] = []
    async with client.messages.stream(model=target.model, max_tokens=OUTPUT_CAP, messages=QUESTION) as stream:
        async for text in stream.text_stream:
            pieces.append(text)
        message = await stream.get_final_message()
    assert "".join(pieces) == PLAIN_TEXT
    assert len(pieces) > 1  # it came in pieces, as streamed
    assert message.content[0].text == PLAIN_TEXT  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 7)


async def _tool_loop(client: anthropic.AsyncAnthropic, target: Target, *, stream: bool) -> Any:
    """The SDK's own loop: call, run the tool, send back the assistant turn as given and the result."""
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    for _ in range(3):
        if stream:
            async with client.messages.stream(
                model=target.model, max_tokens=OUTPUT_CAP, messages=messages, tools=TOOLS
            ) as events:
                message = await events.get_final_message()
        else:
            message = await client.messages.create(
                model=target.model, max_tokens=OUTPUT_CAP, messages=messages, tools=TOOLS
            )
        if message.stop_reason != "tool_use":
            return message
        uses = [block for block in message.content if block.type == "tool_use"]
        assert [u.name for u in uses] == [TOOL_NAME]
        assert uses[0].input == TOOL_ARGUMENTS
        if target.reasoning == "thinking":  # the thinking that led to the call comes with it, before it
            kinds = [block.type for block in message.content]
            assert "thinking" in kinds
            assert kinds.index("thinking") < kinds.index("tool_use")
            assert kinds[0] == "thinking" or stream  # a stream sends its text as it comes, the thinking at the end
        messages.append({"role": "assistant", "content": message.content})
        results = [{"type": "tool_result", "tool_use_id": u.id, "content": get_weather(**u.input)} for u in uses]
        messages.append({"role": "user", "content": results})
    raise AssertionError("the loop did not end")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_tool_loop(client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target, stream: bool) -> None:
    script_tool_loop(gateway)
    final = await _tool_loop(client, target, stream=stream)
    assert final.stop_reason == "end_turn"
    assert final.content[-1].text == FINAL_TEXT
    assert_tool_loop_reached_upstream(gateway, target)


async def test_forced_tool_choice(client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target) -> None:
    gateway.up.script(Reply(tool_calls=[(TOOL_NAME, TOOL_ARGUMENTS)]))
    message = await client.messages.create(
        model=target.model,
        max_tokens=OUTPUT_CAP,
        messages=QUESTION,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": TOOL_NAME},
    )
    assert message.stop_reason == "tool_use"
    assert_no_forced_tool_with_thinking(gateway, target)
    (request,) = gateway.chat_requests()
    if target.reasoning != "thinking" and target.api == "anthropic":
        assert request.body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    elif target.api == "openai":
        assert request.body["tool_choice"] == {"type": "function", "function": {"name": TOOL_NAME}}


async def test_system_blocks_and_sampling_reach_the_model(
    client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target
) -> None:
    script_plain(gateway)
    await client.messages.create(
        model=target.model,
        max_tokens=OUTPUT_CAP,
        system=[{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in English."}],
        messages=QUESTION,
        stop_sequences=["END"],
        metadata={"user_id": "end-user-7"},
    )
    (request,) = gateway.chat_requests()
    sent = json.dumps(request.body)
    # Anthropic's own field reaches Anthropic's models as it is, and no other kind.
    assert (request.body.get("metadata") == {"user_id": "end-user-7"}) == (target.api == "anthropic")
    assert "You are terse." in sent
    assert "Answer in English." in sent
    assert "END" in sent


async def test_errors_are_the_sdks_own_exceptions(
    client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target
) -> None:
    with pytest.raises(anthropic.NotFoundError) as not_found:
        await client.messages.create(model="no-such-model", max_tokens=10, messages=QUESTION)
    assert not_found.value.body["type"] == "error"  # type: ignore[index]
    assert not_found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        await client.messages.create(model=target.model, max_tokens=0, messages=QUESTION)
    assert "max_tokens" in bad.value.message
    script_context_length_exceeded(gateway)
    with pytest.raises(anthropic.BadRequestError) as too_long:
        await client.messages.create(model=target.model, max_tokens=OUTPUT_CAP, messages=QUESTION)
    assert "context length" in too_long.value.message
    assert_sent_once(gateway)
    gateway.up.reset()  # the context-length faults left unused
    gateway.up.script(Fault(status=429, times=5, retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as limited:
        await client.messages.create(model=target.model, max_tokens=OUTPUT_CAP, messages=QUESTION)
    assert limited.value.response.headers["retry-after"] == "7"
    bad_key = anthropic.AsyncAnthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as denied:
        await bad_key.messages.create(model=target.model, max_tokens=OUTPUT_CAP, messages=QUESTION)
    assert denied.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    await bad_key.close()


async def test_count_tokens(client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target) -> None:
    counted = await client.messages.count_tokens(model=target.model, messages=QUESTION, tools=TOOLS)
    assert counted.input_tokens > 0
    assert gateway.chat_requests() == []  # counted here, no model called


async def test_structured_output(client: anthropic.AsyncAnthropic, gateway: Gateway, target: Target) -> None:
    """Anthropic's ``output_config.format``: the schema reaches every kind in its own JSON-output field."""
    script_report(gateway)
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "temperature_c": {"type": "number"},
            "conditions": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["city", "temperature_c", "conditions"],
        "additionalProperties": False,
    }
    message = await client.messages.create(
        model=target.model,
        max_tokens=OUTPUT_CAP,
        messages=[{"role": "user", "content": "The weather report for Paris, please."}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
    )
    assert json.loads(message.content[-1].text) == REPORT  # type: ignore[union-attr]
    assert_structured_output_reached_upstream(gateway, target)
