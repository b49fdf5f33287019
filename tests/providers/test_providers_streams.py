"""Streams in shapes the FakeUpstream does not script: clean ends without a terminator, errors in the
middle of a stream, thought parts, signatures, keep-alive comments. Served by a loopback server that
answers each request with a canned body, byte for byte."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from providers_support import Canned, sse

from agentrt.config import ProviderSection
from agentrt.errors import ProviderRateLimited, ProviderUnavailable
from agentrt.providers import builtin_kinds
from agentrt.types import ChatRequest, Message, StreamFinish, TextDelta, ToolCallDelta


async def collect(kind: str, base_url: str, model: str = "m") -> list[Any]:
    client = builtin_kinds()[kind]("canned", ProviderSection(kind=kind, api_key="k-123456", base_url=base_url))
    try:
        return [e async for e in client.stream(ChatRequest(model=model, messages=[Message.user("hi")]))]
    finally:
        await client.aclose()


def openai_chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_openai_stream_ending_without_done_ended_early(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces = [sse(openai_chunk("Hel"), openai_chunk("lo", "stop"))]
    with pytest.raises(ProviderUnavailable, match="stream ended early"):
        await collect("openai", url + "/v1")


async def test_openai_stream_with_comments_crlf_and_split_pieces_parses(canned: tuple[Canned, str]) -> None:
    state, url = canned
    body = b": keep-alive\r\n\r\n" + sse(openai_chunk("Hel"), openai_chunk("lo", "stop"), b"[DONE]", crlf=True)
    state.pieces = [body[i : i + 7] for i in range(0, len(body), 7)]  # lines split across writes
    events = await collect("openai", url + "/v1")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert isinstance(events[-1], StreamFinish)
    assert events[-1].finish_reason == "stop"


async def test_openai_error_inside_a_stream_is_mapped(canned: tuple[Canned, str]) -> None:
    state, url = canned
    error = {
        "error": {
            "message": "Rate limit reached. Please try again in 1.5s.",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }
    state.pieces = [sse(openai_chunk("Hel"), error)]
    with pytest.raises(ProviderRateLimited) as caught:
        await collect("openai", url + "/v1")
    assert caught.value.retry_after == 1.5  # from the message: no header mid-stream


def anthropic_events(*events: dict[str, Any]) -> bytes:
    return sse(*events, event_names=[e["type"] for e in events])


START = {"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 10, "output_tokens": 1}}}


async def test_anthropic_stream_ending_without_message_stop_ended_early(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces = [
        anthropic_events(
            START,
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
        )
    ]
    with pytest.raises(ProviderUnavailable, match="stream ended early"):
        await collect("anthropic", url)


async def test_anthropic_overloaded_error_event_is_unavailable(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces = [
        anthropic_events(START, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    ]
    with pytest.raises(ProviderUnavailable, match="Overloaded") as caught:
        await collect("anthropic", url)
    assert caught.value.status == 529


async def test_anthropic_thinking_is_left_out_and_cumulative_usage_is_kept(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces = [
        anthropic_events(
            START,
            {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Answer"}},
            {"type": "content_block_stop", "index": 1},
            {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
             "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 42}},
            {"type": "message_stop"},
        )
    ]  # fmt: skip
    events = await collect("anthropic", url)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Answer"]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "length"
    assert (finish.usage.input_tokens, finish.usage.output_tokens, finish.usage.cached_tokens) == (100, 42, 90)
    assert finish.model == "claude-x"


THINKING_EVENTS = [
    START,
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "need the "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "weather"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig=="}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "opaque"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2,
     "content_block": {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city":'}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ' "Oslo"}'}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}},
    {"type": "message_stop"},
]  # fmt: skip
KEPT_THINKING = [
    {"type": "thinking", "thinking": "need the weather", "signature": "sig=="},
    {"type": "redacted_thinking", "data": "opaque"},
]


async def test_anthropic_thinking_behind_tool_calls_is_kept_and_sent_back_first(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces = [anthropic_events(*THINKING_EVENTS)]
    events = await collect("anthropic", url)
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    [call] = finish.tool_calls
    assert (call.id, call.name, call.arguments) == ("toolu_9", "get_weather", {"city": "Oslo"})
    assert call.provider_data == {"anthropic_thinking": KEPT_THINKING}
    # The plain answer keeps it the same way, and the next turn sends it back before the tool_use.
    tool_use = {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}}
    answer = {
        "model": "claude-x",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
        "content": [*KEPT_THINKING, tool_use],
    }
    state.pieces, state.content_type = [orjson.dumps(answer)], "application/json"
    client = builtin_kinds()["anthropic"]("canned", ProviderSection(kind="anthropic", base_url=url))
    try:
        response = await client.complete(ChatRequest(model="m", messages=[Message.user("weather?")]))
        assert response.tool_calls[0].provider_data == {"anthropic_thinking": KEPT_THINKING}
        follow_up = [
            Message.user("weather?"),
            Message.assistant("", response.tool_calls),
            Message.tool("toolu_9", "snow"),
        ]
        await client.complete(ChatRequest(model="m", messages=follow_up))
    finally:
        await client.aclose()
    assistant_turn = state.requests[-1]["messages"][1]["content"]
    assert assistant_turn == [*KEPT_THINKING, tool_use]


def gemini_chunk(parts: list[dict[str, Any]], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "r1", **extra}


async def test_gemini_stream_without_a_finish_reason_ended_early(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces = [sse(gemini_chunk([{"text": "Hel"}]), gemini_chunk([{"text": "lo"}]), crlf=True)]
    with pytest.raises(ProviderUnavailable, match="stream ended early"):
        await collect("google", url)


async def test_gemini_thoughts_are_skipped_and_signatures_kept(canned: tuple[Canned, str]) -> None:
    state, url = canned
    usage = {"promptTokenCount": 8, "candidatesTokenCount": 5, "thoughtsTokenCount": 20, "cachedContentTokenCount": 3}
    state.pieces = [
        sse(
            gemini_chunk([{"text": "thinking about it", "thought": True}]),
            gemini_chunk([{"text": "Let me look."}]),
            gemini_chunk(
                [{"functionCall": {"name": "search", "args": {"q": "x"}}, "thoughtSignature": "c2lnbmF0dXJl"}],
                "STOP",
                usageMetadata=usage,
                modelVersion="gemini-3-pro",
            ),
            crlf=True,
        )
    ]
    events = await collect("google", url)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Let me look."]
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(c.name, c.arguments) for c in calls] == [("search", '{"q":"x"}')]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "tool_calls"
    assert finish.tool_calls[0].provider_data == {"thoughtSignature": "c2lnbmF0dXJl"}
    # thinking is billed as output
    assert (finish.usage.input_tokens, finish.usage.output_tokens, finish.usage.cached_tokens) == (8, 25, 3)
    assert finish.model == "gemini-3-pro"


async def test_gemini_error_inside_a_stream_is_mapped(canned: tuple[Canned, str]) -> None:
    state, url = canned
    error = [{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
              "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}]  # fmt: skip
    state.pieces = [sse(gemini_chunk([{"text": "Hel"}]), error)]
    with pytest.raises(ProviderRateLimited) as caught:
        await collect("google", url)
    assert caught.value.retry_after == 37


async def test_gemini_blocked_prompt_finishes_as_content_filter(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces = [sse({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}})]
    events = await collect("google", url)
    assert len(events) == 1
    assert isinstance(events[0], StreamFinish)
    assert events[0].finish_reason == "content_filter"


async def test_a_200_that_is_not_json_is_malformed(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.pieces, state.content_type = [b"<html>gateway</html>"], "text/html"
    client = builtin_kinds()["openai"]("canned", ProviderSection(kind="openai", base_url=url))
    try:
        with pytest.raises(ProviderUnavailable, match="malformed"):
            await client.complete(ChatRequest(model="m", messages=[Message.user("x")]))
    finally:
        await client.aclose()


async def test_an_html_error_page_is_quoted_briefly(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.status, state.content_type = 502, "text/html"
    state.pieces = [b"<html><body>Bad Gateway" + b"!" * 5000 + b"</body></html>"]
    client = builtin_kinds()["anthropic"]("canned", ProviderSection(kind="anthropic", base_url=url))
    try:
        with pytest.raises(ProviderUnavailable, match="Bad Gateway") as caught:
            await client.complete(ChatRequest(model="m", messages=[Message.user("x")]))
    finally:
        await client.aclose()
    assert len(str(caught.value)) < 800
