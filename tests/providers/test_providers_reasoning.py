"""Reasoning round trip: Gemini 3's thought signatures and Anthropic's signed thinking blocks go back,
unchanged, with the tool calls they led to, plain and streamed, several calls per turn included.

The strict FakeUpstream signs what it hands out and refuses a next turn whose signed parts are
missing or altered, as the real APIs do (``RecordedRequest.rejection`` says why).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from providers_support import WEATHER, Canned, canned_client, sse

from agentrt.errors import ProviderBadRequest
from agentrt.testing import FakeUpstream, Reply
from agentrt.types import ChatRequest, Message, StreamFinish, ToolCall

TWO_CALLS = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
THINKING = {"thinking": {"type": "enabled", "budget_tokens": 1024}}


async def first_turn(client: Any, request: ChatRequest, *, stream: bool) -> list[ToolCall]:
    if not stream:
        return list((await client.complete(request)).tool_calls)
    events = [event async for event in client.stream(request)]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    return finish.tool_calls


def next_turn(request: ChatRequest, calls: list[ToolCall]) -> ChatRequest:
    results = [Message.tool(call.id, '{"sky": "clear"}', name=call.name) for call in calls]
    messages = [*request.messages, Message.assistant("", calls), *results]
    return ChatRequest(
        model=request.model,
        messages=messages,
        tools=request.tools,
        max_output_tokens=request.max_output_tokens,
        params=request.params,
    )


def accepted(up: FakeUpstream) -> dict[str, Any]:
    recorded = up.requests[-1]
    assert recorded.rejection is None, recorded.rejection
    body: dict[str, Any] = recorded.body
    return body


@pytest.mark.parametrize("second_stream", [False, True], ids=["then-plain", "then-stream"])
@pytest.mark.parametrize("first_stream", [False, True], ids=["plain", "stream"])
async def test_gemini_3_thought_signatures_come_back_with_their_calls(
    up: FakeUpstream, make_client: Any, first_stream: bool, second_stream: bool
) -> None:
    client = make_client("google")
    question = [Message.user("weather in Paris and Rome?")]
    request = ChatRequest(model="gemini-3-pro-preview", messages=question, tools=[WEATHER])
    up.script(Reply(tool_calls=TWO_CALLS))
    calls = await first_turn(client, request, stream=first_stream)
    signatures = [(call.provider_data or {}).get("thoughtSignature") for call in calls]
    assert signatures[0]  # Gemini 3 signs the first call of a step
    up.script(Reply(text="Sunny in both."))
    if second_stream:
        [event async for event in client.stream(next_turn(request, calls))]
    else:
        await client.complete(next_turn(request, calls))
    body = accepted(up)
    model_turn = body["contents"][1]
    assert model_turn["role"] == "model"
    sent = [part.get("thoughtSignature") for part in model_turn["parts"] if "functionCall" in part]
    assert sent == signatures


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_gemini_3_refuses_a_turn_whose_signature_was_lost(
    up: FakeUpstream, make_client: Any, stream: bool
) -> None:
    # The oracle's side of the test above: without the signature the next turn is a 400.
    client = make_client("google")
    request = ChatRequest(model="gemini-3-pro-preview", messages=[Message.user("weather?")], tools=[WEATHER])
    up.script(Reply(tool_calls=TWO_CALLS))
    calls = await first_turn(client, request, stream=stream)
    stripped = [ToolCall(call.id, call.name, call.arguments) for call in calls]
    with pytest.raises(ProviderBadRequest, match="thought_signature"):
        await client.complete(next_turn(request, stripped))


@pytest.mark.parametrize("second_stream", [False, True], ids=["then-plain", "then-stream"])
@pytest.mark.parametrize("first_stream", [False, True], ids=["plain", "stream"])
async def test_anthropic_thinking_blocks_come_back_unchanged_before_the_tool_calls(
    up: FakeUpstream, make_client: Any, first_stream: bool, second_stream: bool
) -> None:
    client = make_client("anthropic")
    request = ChatRequest(
        model="claude-sonnet-4-5",
        messages=[Message.user("weather in Paris and Rome?")],
        tools=[WEATHER],
        max_output_tokens=4096,
        params=THINKING,
    )
    up.script(Reply(tool_calls=TWO_CALLS, thinking="Two cities: call the tool for each."))
    calls = await first_turn(client, request, stream=first_stream)
    assert len(calls) == 2
    thinking = (calls[0].provider_data or {}).get("anthropic_thinking")
    assert thinking
    assert thinking[0]["thinking"] == "Two cities: call the tool for each."
    up.script(Reply(text="Sunny in both."))
    if second_stream:
        [event async for event in client.stream(next_turn(request, calls))]
    else:
        await client.complete(next_turn(request, calls))
    body = accepted(up)
    assistant = body["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][: len(thinking)] == thinking
    assert [block["type"] for block in assistant["content"][len(thinking) :]] == ["tool_use", "tool_use"]


# Interleaved thinking (Claude 4 and later): a thinking block before each tool call. Each must come
# back in its place, not all of them moved to the front.
INTERLEAVED = [
    {"type": "thinking", "thinking": "First Paris.", "signature": "sig-1"},
    {"type": "text", "text": "Let me check."},
    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    {"type": "thinking", "thinking": "Now Rome.", "signature": "sig-2"},
    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
]


def interleaved_events() -> bytes:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": []}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "usage": {"input_tokens": 9, "output_tokens": 1}}}
    ]
    for index, block in enumerate(INTERLEAVED):
        kind = block["type"]
        if kind == "thinking":
            events += [
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {**block, "thinking": "", "signature": ""},
                },
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": block["thinking"]},
                },
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": block["signature"]},
                },
            ]
        elif kind == "text":
            events += [
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}},
            ]
        else:
            events += [
                {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()},
                },
            ]
        events.append({"type": "content_block_stop", "index": index})
    events += [
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 40}},
        {"type": "message_stop"},
    ]
    return sse(*events, event_names=[event["type"] for event in events])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_anthropic_interleaved_thinking_comes_back_in_its_place(canned: tuple[Canned, str], stream: bool) -> None:
    state, url = canned
    if stream:
        state.answer_events(interleaved_events())
    else:
        state.answer_json(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": INTERLEAVED,
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 9, "output_tokens": 40},
            }
        )
    client = canned_client("anthropic", url)
    request = ChatRequest(
        model="claude-sonnet-4-5", messages=[Message.user("weather?")], tools=[WEATHER], params=THINKING
    )
    try:
        if stream:
            finish = [event async for event in client.stream(request)][-1]
            assert isinstance(finish, StreamFinish)
            calls, text = finish.tool_calls, "Let me check."
        else:
            response = await client.complete(request)
            calls, text = response.tool_calls, response.text
        state.answer_json(
            {
                "id": "msg_2",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "Sunny."}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        )
        results = [Message.tool(call.id, "sunny", name=call.name) for call in calls]
        messages = [*request.messages, Message.assistant(text, calls), *results]
        await client.complete(ChatRequest(model=request.model, messages=messages, tools=[WEATHER], params=THINKING))
    finally:
        await client.aclose()
    assert text == "Let me check."
    sent = state.requests[-1]["messages"][1]["content"]
    assert sent == INTERLEAVED
