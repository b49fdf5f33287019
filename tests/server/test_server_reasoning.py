"""What the OpenAI format cannot say natively, through the gateway: reasoning state in tool loops
(Gemini 3's thoughtSignature, Anthropic's thinking blocks), refusals, finish reasons, output-size names."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from openai import AsyncOpenAI
from server_support import UPSTREAM_KEY, USER_KEY, Served, auth, serving

from agentrt.server.openai_convert import finish_reason
from agentrt.server.reasoning import decode_call_id, encode_call_id
from agentrt.testing import FakeUpstream, Recorded, Reply
from agentrt.types import Completion, ToolCall, Usage

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]
QUESTION = {"role": "user", "content": "weather in Paris?"}


def reasoning_config(up: FakeUpstream) -> dict[str, Any]:
    retry = {"attempts": 1, "backoff": "1ms", "max_backoff": "5ms"}

    def provider(kind: str, base_url: str) -> dict[str, Any]:
        return {"kind": kind, "api_key": UPSTREAM_KEY, "base_url": base_url, "timeout": "10s", "retry": retry}

    capabilities = ["chat", "tools", "json", "streaming"]
    return {
        "providers": {
            "oai": provider("openai", up.openai_base_url),
            "ant": provider("anthropic", up.anthropic_base_url),
            "gem": provider("google", up.google_base_url),
        },
        "models": {
            "gpt-test": {"provider": "oai", "capabilities": capabilities, "aliases": ["default"]},
            "gemini-3-pro-preview": {"provider": "gem", "capabilities": capabilities},
            "claude-thinking": {
                "provider": "ant",
                "name": "claude-thinking-test",
                "capabilities": capabilities,
                "max_output_tokens": 4096,
                "params": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
            },
        },
    }


@pytest.fixture
async def reasoning(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(up, tmp_path, **reasoning_config(up)) as s:
        yield s


@pytest.fixture
async def client(reasoning: Served) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=reasoning.url + "/v1", api_key=USER_KEY, max_retries=0) as c:
        yield c


async def _first_turn(client: AsyncOpenAI, model: str, *, stream: bool) -> dict[str, Any]:
    """The assistant message of the first turn, as the client got it (a dict, unknown fields kept)."""
    if not stream:
        completion = await client.chat.completions.create(model=model, messages=[QUESTION], tools=TOOLS)
        assert completion.choices[0].finish_reason == "tool_calls"
        return completion.choices[0].message.model_dump(exclude_none=True)
    calls: dict[int, dict[str, Any]] = {}
    extra: dict[str, Any] = {}
    events = await client.chat.completions.create(model=model, messages=[QUESTION], tools=TOOLS, stream=True)
    async for chunk in events:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta.model_dump(exclude_none=True)
        if "thinking_blocks" in delta:
            extra["thinking_blocks"] = delta["thinking_blocks"]
        for part in delta.get("tool_calls", []):
            call = calls.setdefault(part["index"], {"id": "", "type": "function", "function": {"arguments": ""}})
            if "id" in part:
                assert not call["id"], "an id is sent once, whole"
                call["id"] = part["id"]
            function = part.get("function", {})
            call["function"]["name"] = function.get("name", call["function"].get("name"))
            call["function"]["arguments"] += function.get("arguments") or ""
            if "provider_specific_fields" in part:
                call["provider_specific_fields"] = part["provider_specific_fields"]
    return {"role": "assistant", "tool_calls": [calls[i] for i in sorted(calls)], **extra}


@pytest.mark.parametrize("model", ["gemini-3-pro-preview", "claude-thinking"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("echo", ["ids-only", "whole-message"])
async def test_a_plain_openai_client_runs_a_tool_loop_with_reasoning_state(
    client: AsyncOpenAI, reasoning: Served, model: str, stream: bool, echo: str
) -> None:
    reasoning.up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="Sunny."))
    assistant = await _first_turn(client, model, stream=stream)
    [call] = assistant["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    if echo == "ids-only":
        # A client that keeps only what OpenAI defines: the id must carry the reasoning state alone.
        assistant = {
            "role": "assistant",
            "tool_calls": [{"id": call["id"], "type": "function", "function": call["function"]}],
        }
    messages: list[Any] = [QUESTION, assistant, {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
    answer = await client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert answer.choices[0].message.content == "Sunny."
    second = reasoning.up.requests[-1]
    assert second.rejection is None  # FakeUpstream checked the signed reasoning came back unchanged
    sent = json.dumps(second.body)
    assert "__agentrt__" not in sent  # the provider sees its own ids
    if model.startswith("claude"):
        assert decode_call_id(call["id"])[0] in sent  # (Gemini matches calls by name, not id)


async def test_ids_without_provider_data_are_the_providers_own(client: AsyncOpenAI, reasoning: Served) -> None:
    reasoning.up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    completion = await client.chat.completions.create(model="gpt-test", messages=[QUESTION], tools=TOOLS)
    [call] = completion.choices[0].message.tool_calls or []
    assert "__agentrt__" not in call.id
    assert call.model_dump().get("provider_specific_fields") is None


def test_the_id_codec_round_trips_and_leaves_foreign_ids_alone() -> None:
    data = {"thoughtSignature": "c2lnbmF0dXJl", "anthropic_thinking": [{"type": "thinking", "thinking": "x" * 500}]}
    encoded = encode_call_id("toolu_01", data)
    assert encoded.startswith("toolu_01__agentrt__")
    assert all(c.isalnum() or c in "_-" for c in encoded)  # still a valid id for strict clients
    assert decode_call_id(encoded) == ("toolu_01", data)
    assert decode_call_id("call_abc") == ("call_abc", None)
    assert decode_call_id("mine__agentrt__not-base64!") == ("mine__agentrt__not-base64!", None)
    assert encode_call_id("call_abc", None) == "call_abc"


# --- refusals and finish reasons ------------------------------------------------------------------

REFUSAL_BODY = orjson.dumps(
    {
        "id": "chatcmpl-r",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": "I can't help with that."},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
    }
)


def _refusal_stream() -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-r",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-test",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    usage = {
        "id": "chatcmpl-r",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
    }
    return (
        chunk({"role": "assistant", "content": None, "refusal": ""})
        + chunk({"refusal": "I can't "})
        + chunk({"refusal": "help with that."})
        + chunk({}, "stop")
        + b"data: "
        + orjson.dumps(usage)
        + b"\n\ndata: [DONE]\n\n"
    )


async def test_a_refusal_is_message_refusal_with_null_content(client: AsyncOpenAI, reasoning: Served) -> None:
    reasoning.up.script(Recorded(REFUSAL_BODY))
    completion = await client.chat.completions.create(model="gpt-test", messages=[QUESTION])
    message = completion.choices[0].message
    assert (message.content, message.refusal) == (None, "I can't help with that.")
    assert completion.choices[0].finish_reason == "stop"  # OpenAI's own finish reason for a refusal


async def test_a_streamed_refusal_is_delta_refusal(client: AsyncOpenAI, reasoning: Served) -> None:
    reasoning.up.script(Recorded(_refusal_stream(), content_type="text/event-stream"))
    refusal, content = "", ""
    events = await client.chat.completions.create(model="gpt-test", messages=[QUESTION], stream=True)
    async for chunk in events:
        if chunk.choices:
            refusal += chunk.choices[0].delta.refusal or ""
            content += chunk.choices[0].delta.content or ""
    assert (refusal, content) == ("I can't help with that.", "")


def _completion(reason: str | None, calls: int = 0) -> Completion:
    tool_calls = [ToolCall(f"c{n}", "f", {}) for n in range(calls)]
    return Completion("", tool_calls, reason, Usage(1, 1), None, "m", "p", [], 0.0)


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        ("stop", 0, "stop"),
        ("length", 0, "length"),
        ("tool_calls", 1, "tool_calls"),
        ("content_filter", 0, "content_filter"),
        ("refusal", 0, "stop"),
        ("pause_turn", 0, "stop"),
        ("malformed_function_call", 0, "stop"),
        ("MALFORMED_FUNCTION_CALL", 1, "tool_calls"),
        ("SAFETY", 0, "content_filter"),
        ("max_tokens", 0, "length"),
        ("cancelled", 0, "stop"),
        (None, 1, "tool_calls"),
    ],
)
def test_finish_reasons_are_openai_words_only(reason: str | None, calls: int, expected: str) -> None:
    assert finish_reason(_completion(reason, calls)) == expected


# --- output size and streaming options --------------------------------------------------------


async def test_max_tokens_and_max_completion_tokens_reach_the_provider_once(
    served: Served, http: aiohttp.ClientSession
) -> None:
    base = {"model": "default", "messages": [QUESTION]}
    for field in ("max_tokens", "max_completion_tokens"):
        async with http.post(served.url + "/v1/chat/completions", json={**base, field: 33}, headers=auth()) as r:
            assert r.status == 200
        sent = served.up.requests[-1].body
        assert sent["max_completion_tokens"] == 33
        assert "max_tokens" not in sent
    both = {**base, "max_tokens": 10, "max_completion_tokens": 20}
    async with http.post(served.url + "/v1/chat/completions", json=both, headers=auth()) as r:
        assert r.status == 400
        assert (await r.json())["error"]["param"] == "max_tokens"


async def test_n_above_one_and_stream_options_without_stream_are_clear_400s(
    served: Served, http: aiohttp.ClientSession
) -> None:
    base = {"model": "default", "messages": [QUESTION]}
    for body, param in (
        ({**base, "n": 2}, "n"),
        ({**base, "n": 2, "stream": True}, "n"),
        ({**base, "stream_options": {"include_usage": True}}, "stream_options"),
    ):
        async with http.post(served.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            assert r.status == 400
            error = (await r.json())["error"]
            assert error["param"] == param


async def test_include_usage_is_honoured(served: Served, http: aiohttp.ClientSession) -> None:
    for include in (True, False):
        body = {
            "model": "default",
            "messages": [QUESTION],
            "stream": True,
            "stream_options": {"include_usage": include},
        }
        async with http.post(served.url + "/v1/chat/completions", json=body, headers=auth()) as r:
            raw = await r.read()
        chunks = [orjson.loads(line[6:]) for line in raw.split(b"\n\n") if line.startswith(b"data: {")]
        usage_chunks = [c for c in chunks if c.get("usage") and not c["choices"]]
        assert len(usage_chunks) == (1 if include else 0)


# --- what OpenAI clients set that must reach OpenAI -------------------------------------------------


async def test_strict_tools_and_image_detail_reach_the_provider(served: Served, http: aiohttp.ClientSession) -> None:
    tools = [{**TOOLS[0], "function": {**TOOLS[0]["function"], "strict": True}}]
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    body = {
        "model": "default",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}],
        "tools": tools,
    }
    async with http.post(served.url + "/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 200, await r.text()
    sent = served.up.requests[-1].body
    assert sent["tools"][0]["function"]["strict"] is True
    assert sent["messages"][0]["content"][1]["image_url"] == {"url": "https://example.com/cat.png", "detail": "low"}
