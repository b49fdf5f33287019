"""Answers as the real APIs send them: refusals, and tool calls cut off by the output cap.

Bodies follow the APIs' documented shapes (OpenAI ``message.refusal`` / ``delta.refusal``, Anthropic
``stop_reason: refusal``), served byte for byte by the canned server, plain and streamed.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from providers_support import WEATHER, Canned, canned_client, sse

from agentrt.errors import ProviderUnavailable
from agentrt.types import ChatRequest, Message, RefusalDelta, StreamFinish, TextDelta, ToolCallDelta

REQUEST = ChatRequest(model="m", messages=[Message.user("how do I pick a lock?")], tools=[WEATHER])
REFUSAL = "I'm sorry, I cannot assist with that request."


async def complete(kind: str, url: str) -> Any:
    client = canned_client(kind, url)
    try:
        return await client.complete(REQUEST)
    finally:
        await client.aclose()


async def stream(kind: str, url: str) -> list[Any]:
    client = canned_client(kind, url)
    try:
        return [event async for event in client.stream(REQUEST)]
    finally:
        await client.aclose()


def openai_answer(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-AB1",
        "object": "chat.completion",
        "created": 1727000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 10, "total_tokens": 22},
    }


def openai_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-AB1",
        "object": "chat.completion.chunk",
        "created": 1727000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


# --- 4. refusals ---------------------------------------------------------------------------


async def test_an_openai_refusal_is_a_refusal_not_an_empty_text(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_json(openai_answer({"role": "assistant", "content": None, "refusal": REFUSAL}, "stop"))
    response = await complete("openai", url)
    assert response.finish_reason == "refusal"
    assert response.refusal == REFUSAL
    assert response.text == ""


async def test_an_openai_answer_without_refusal_has_none(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_json(openai_answer({"role": "assistant", "content": "Hi", "refusal": None}, "stop"))
    response = await complete("openai", url)
    assert (response.finish_reason, response.refusal, response.text) == ("stop", None, "Hi")


async def test_a_streamed_openai_refusal_is_refusal_deltas_and_a_refusal_finish(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_events(
        sse(
            openai_chunk({"role": "assistant", "content": None, "refusal": ""}),
            openai_chunk({"refusal": "I'm sorry, "}),
            openai_chunk({"refusal": "I cannot assist with that request."}),
            openai_chunk({}, "stop"),
            {**openai_chunk({}), "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 10}},
            b"[DONE]",
        )
    )
    events = await stream("openai", url)
    assert [e.text for e in events if isinstance(e, RefusalDelta)] == [
        "I'm sorry, ",
        "I cannot assist with that request.",
    ]
    assert not [e for e in events if isinstance(e, TextDelta)]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "refusal"
    assert finish.refusal == REFUSAL


def anthropic_message(content: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 3},
    }


async def test_an_anthropic_refusal_is_a_refusal(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_json(anthropic_message([{"type": "text", "text": "Here is"}], "refusal"))
    response = await complete("anthropic", url)
    assert response.finish_reason == "refusal"
    assert response.refusal
    assert response.text == "Here is"  # what came before the classifier stopped it stays the text


async def test_a_streamed_anthropic_refusal_is_a_refusal(canned: tuple[Canned, str]) -> None:
    state, url = canned
    events = [
        {"type": "message_start", "message": {**anthropic_message([], "end_turn"), "stop_reason": None}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "refusal", "stop_sequence": None},
            "usage": {"output_tokens": 0},
        },
        {"type": "message_stop"},
    ]
    state.answer_events(sse(*events, event_names=[e["type"] for e in events]))
    finish = (await stream("anthropic", url))[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "refusal"
    assert finish.refusal


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [("pause_turn", "stop"), ("model_context_window_exceeded", "length"), ("some_new_reason", "stop")],
)
async def test_anthropic_stop_reasons_are_in_openais_words(
    canned: tuple[Canned, str], stop_reason: str, expected: str
) -> None:
    state, url = canned
    state.answer_json(anthropic_message([{"type": "text", "text": "so far"}], stop_reason))
    assert (await complete("anthropic", url)).finish_reason == expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("LANGUAGE", "content_filter"),
        ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
        ("TOO_MANY_TOOL_CALLS", "stop"),
        ("MAX_TOKENS", "length"),
    ],
)
async def test_gemini_finish_reasons_are_in_openais_words(
    canned: tuple[Canned, str], reason: str, expected: str
) -> None:
    state, url = canned
    state.answer_json(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": reason}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
            "modelVersion": "gemini-2.5-flash",
        }
    )
    assert (await complete("google", url)).finish_reason == expected


# --- 5. tool calls cut off by the output cap -----------------------------------------------

CUT = '{"city": "Par'


def openai_cut_call() -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": CUT}}
    return openai_answer({"role": "assistant", "content": None, "tool_calls": [call]}, "length")


async def test_an_openai_tool_call_cut_off_by_the_cap_is_a_length_completion(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_json(openai_cut_call())
    response = await complete("openai", url)
    assert response.finish_reason == "length"
    [call] = response.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "get_weather", {})
    assert call.provider_data == {"truncated_arguments": CUT}


async def test_a_streamed_openai_tool_call_cut_off_by_the_cap_is_a_length_finish(canned: tuple[Canned, str]) -> None:
    state, url = canned
    start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    state.answer_events(
        sse(
            openai_chunk({"role": "assistant", "content": None, "tool_calls": [start]}),
            openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": CUT}}]}),
            openai_chunk({}, "length"),
            b"[DONE]",
        )
    )
    events = await stream("openai", url)
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta)] == ["", CUT]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "length"
    assert finish.tool_calls[0].arguments == {}
    assert finish.tool_calls[0].provider_data == {"truncated_arguments": CUT}


async def test_a_streamed_anthropic_tool_input_cut_off_by_max_tokens_is_a_length_finish(
    canned: tuple[Canned, str],
) -> None:
    state, url = canned
    events = [
        {"type": "message_start", "message": {**anthropic_message([], "end_turn"), "stop_reason": None}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": CUT}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {"output_tokens": 5},
        },
        {"type": "message_stop"},
    ]
    state.answer_events(sse(*events, event_names=[e["type"] for e in events]))
    finish = (await stream("anthropic", url))[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "length"
    assert finish.tool_calls[0].arguments == {}
    assert finish.tool_calls[0].provider_data == {"truncated_arguments": CUT}


async def test_broken_arguments_without_the_cap_are_still_a_retryable_malformed_answer(
    canned: tuple[Canned, str],
) -> None:
    state, url = canned
    answer = openai_cut_call()
    answer["choices"][0]["finish_reason"] = "tool_calls"
    state.answer_json(answer)
    with pytest.raises(ProviderUnavailable, match="not valid JSON"):
        await complete("openai", url)


async def test_arguments_complete_despite_the_cap_are_parsed(canned: tuple[Canned, str]) -> None:
    state, url = canned
    answer = openai_cut_call()
    answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = orjson.dumps({"city": "Paris"}).decode()
    state.answer_json(answer)
    response = await complete("openai", url)
    assert response.tool_calls[0].arguments == {"city": "Paris"}
    assert response.tool_calls[0].provider_data is None
