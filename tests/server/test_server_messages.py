"""``POST /v1/messages`` (Anthropic-compatible) behind the gateway's auth, policies, ledger and metrics.

The upstream here speaks OpenAI's format: every case also checks the translation
from Anthropic's format to another provider's and back.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pydantic
import pytest
from server_support import USER_KEY, Served, auth, serving

from agentrt.server.anthropic_models import AnthropicError, AnthropicMessage, AnthropicStreamEvent
from agentrt.store.ledger import UsageLedger
from agentrt.testing import FakeUpstream, Fault, Reply

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
RAW_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def served(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(up, tmp_path, store={"url": f"sqlite:///{tmp_path / 'store.db'}"}) as s:
        yield s


@pytest.fixture
async def client(served: Served) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=served.url, api_key=USER_KEY, max_retries=0) as c:
        yield c


async def ledger_rows(served: Served, *, wait_for: int = 1) -> list[tuple[Any, ...]]:
    ledger = served.rt.services.get(UsageLedger)
    rows: list[tuple[Any, ...]] = []
    for _ in range(100):
        await ledger.flush()
        rows = await ledger.store.fetchall(
            "SELECT outcome, user_name, tenant, model, output_tokens, request_id FROM agentrt_usage ORDER BY id"
        )
        if len(rows) >= wait_for:
            break
        await asyncio.sleep(0.05)
    return rows


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` of each server-sent event."""
    out = []
    for chunk in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


async def test_a_call_is_answered_in_anthropics_shape_and_recorded_like_any_other(
    served: Served, up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script(Reply(text="Paris.", usage=(11, 2)))
    headers = {"x-api-key": USER_KEY, "anthropic-version": "2023-06-01", "x-request-id": "req-messages-1"}
    body = {"model": "default", "max_tokens": 100, "messages": QUESTION, "metadata": {"user_id": "mallory"}}
    async with http.post(served.url + "/v1/messages", json=body, headers=headers) as response:
        assert response.status == 200
        raw = await response.json()
        answer = AnthropicMessage.model_validate(raw)
        anthropic.types.Message.model_validate(raw, strict=True)
        assert response.headers["x-request-id"] == "req-messages-1"
        assert response.headers["x-agentrt-model"] == "gpt-test"
    assert answer.content[0].model_dump() == {"type": "text", "text": "Paris."}
    assert answer.stop_reason == "end_turn"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (11, 2)
    (sent,) = up.requests
    assert sent.body is not None
    assert sent.body["max_completion_tokens"] == 100  # Anthropic's required max_tokens, in OpenAI's words
    assert "metadata" not in sent.body  # Anthropic's own parameter, not OpenAI's
    # The key decides the principal, never metadata.user_id: a client cannot step around a per-user limit.
    [(outcome, user, tenant, model, output_tokens, request_id)] = await ledger_rows(served)
    assert (outcome, user, tenant, model, output_tokens, request_id) == (
        "ok",
        "alice",
        "acme",
        "gpt-test",
        2,
        "req-messages-1",
    )
    async with http.get(served.url + "/metrics") as response:
        metrics = await response.text()
    assert 'route="/v1/messages"' in metrics


async def test_bearer_keys_work_too_and_a_missing_key_is_told_in_anthropics_shape(
    served: Served, up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script(Reply(text="Paris."))
    body = {"model": "default", "max_tokens": 10, "messages": QUESTION}
    async with http.post(served.url + "/v1/messages", json=body, headers=auth()) as response:
        assert response.status == 200
    async with http.post(served.url + "/v1/messages", json=body) as response:
        assert response.status == 401
        error = AnthropicError.model_validate(await response.json())
    assert error.error.type == "authentication_error"
    assert "x-api-key" in error.error.message
    async with http.post(served.url + "/v1/messages", json=body, headers={"x-api-key": "sk-wrong"}) as response:
        assert response.status == 401
    # The other routes keep OpenAI's shape.
    async with http.post(served.url + "/v1/chat/completions", json={}, headers={"x-api-key": "sk-wrong"}) as response:
        assert (await response.json())["error"]["code"] == "invalid_api_key"


async def test_invalid_bodies_name_the_path(served: Served, http: aiohttp.ClientSession) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": "default", "messages": QUESTION}, "max_tokens"),
        ({"model": "default", "max_tokens": 10, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        (
            {"model": "default", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages.0.content.0.type",
        ),
        (
            {
                "model": "default",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}],
            },
            "messages.0.content.0",
        ),
        ({"model": "default", "max_tokens": 10, "messages": QUESTION, "temperature": 1.5}, "temperature"),
        # Found by schemathesis: an empty content list left no message at all, and the call failed with a 500.
        ({"model": "default", "max_tokens": 10, "messages": [{"role": "user", "content": []}]}, "messages.0.content"),
    ]
    for body, path in cases:
        async with http.post(served.url + "/v1/messages", json=body, headers=auth()) as response:
            assert response.status == 400, body
            error = AnthropicError.model_validate(await response.json())
        assert error.error.type == "invalid_request_error"
        assert path in error.error.message, (path, error.error.message)


async def test_images_and_tool_results_with_images_reach_another_kind(
    client: anthropic.AsyncAnthropic, up: FakeUpstream
) -> None:
    up.script(Reply(text="A cat."))
    png = base64.b64encode(PNG).decode()
    messages: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                {"type": "text", "text": "What is in these images?"},
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "look", "input": {"at": "x"}}]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "call_1",
                    "content": [
                        {"type": "text", "text": "a screenshot"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    ],
                }
            ],
        },
    ]
    await client.messages.create(model="default", max_tokens=50, messages=messages)
    (sent,) = up.requests
    assert sent.body is not None
    roles = [m["role"] for m in sent.body["messages"]]
    assert roles == ["user", "assistant", "tool", "user"]  # the tool result's image follows it, as the user's
    first = sent.body["messages"][0]["content"]
    assert first[0]["image_url"]["url"] == f"data:image/png;base64,{png}"
    assert first[1]["image_url"]["url"] == "https://example.com/cat.png"
    assert sent.body["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "a screenshot"}


async def test_anthropic_only_parameters_are_left_out_for_another_kind(
    client: anthropic.AsyncAnthropic, up: FakeUpstream
) -> None:
    up.script(Reply(tool_calls=[("look", {"at": "x"})]))
    tools: list[Any] = [{"name": "look", "input_schema": {"type": "object", "properties": {"at": {"type": "string"}}}}]
    message = await client.messages.create(
        model="default",
        max_tokens=50,
        messages=QUESTION,
        tools=tools,
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        extra_body={"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}, "top_p": 0.5},
    )
    assert message.stop_reason == "tool_use"
    (sent,) = up.requests
    assert sent.body is not None
    assert "top_k" not in sent.body
    assert "thinking" not in sent.body
    assert sent.body["top_p"] == 0.5
    assert sent.body["tool_choice"] == "required"
    assert sent.body["parallel_tool_calls"] is False


async def test_a_stream_is_anthropics_events_in_order(
    served: Served, up: FakeUpstream, http: aiohttp.ClientSession
) -> None:
    up.script(Reply(text="Let me look.", tool_calls=[("look", {"at": "the sky"})], chunk_size=4, usage=(9, 5)))
    tools = [{"name": "look", "input_schema": {"type": "object", "properties": {"at": {"type": "string"}}}}]
    body = {"model": "default", "max_tokens": 50, "messages": QUESTION, "tools": tools, "stream": True}
    async with http.post(served.url + "/v1/messages", json=body, headers=auth()) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = events_of(await response.read())
    for name, data in events:
        assert name == data["type"]
        AnthropicStreamEvent.model_validate(data)
        if name != "ping":  # strictly, as the anthropic SDK's own types say each event is
            RAW_EVENT.validate_python(data, strict=True)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert [block["type"] for block in starts] == ["text", "tool_use"]
    assert starts[1]["name"] == "look"
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    text = "".join(d["text"] for d in deltas if d["type"] == "text_delta")
    arguments = "".join(d["partial_json"] for d in deltas if d["type"] == "input_json_delta")
    assert text == "Let me look."
    assert json.loads(arguments) == {"at": "the sky"}
    assert len([d for d in deltas if d["type"] == "text_delta"]) > 1
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"]["output_tokens"] == 5
    assert final["usage"]["input_tokens"] == 9


async def test_an_error_after_the_stream_began_is_an_error_event(
    client: anthropic.AsyncAnthropic, up: FakeUpstream
) -> None:
    up.script(Fault(cut_stream_after=3, times=3))  # some text, then the provider's connection drops

    async def read_all() -> None:
        async with client.messages.stream(model="default", max_tokens=50, messages=QUESTION) as stream:
            async for _ in stream:
                pass

    with pytest.raises(anthropic.APIStatusError) as failed:
        await read_all()
    assert failed.value.body["type"] == "error"  # type: ignore[index]


async def test_a_budget_refusal_is_a_rate_limit_error_with_retry_after(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {"budgets": [{"scope": "user", "period": "day", "max_tokens": 150}]}
    up.script(Reply(text="Paris.", usage=(11, 90)))
    async with (
        serving(up, tmp_path, policies=policies) as s,
        anthropic.AsyncAnthropic(base_url=s.url, api_key=USER_KEY, max_retries=0) as client,
    ):
        await client.messages.create(model="default", max_tokens=100, messages=QUESTION)  # 101 of 150 used
        with pytest.raises(anthropic.RateLimitError) as refused:
            await client.messages.create(model="default", max_tokens=100, messages=QUESTION)
    assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(refused.value.response.headers["retry-after"]) >= 1  # when the day's budget resets
    assert "budget" in refused.value.message
    assert len(up.requests) == 1  # the refused call never reached the provider


async def test_a_client_that_hangs_up_mid_stream_is_charged_for_what_it_was_sent(
    served: Served, up: FakeUpstream
) -> None:
    up.script(Reply(text="lorem ipsum dolor sit amet " * 80_000, chunk_size=64, usage=(5, 600_000)))
    body = {"model": "default", "max_tokens": 50_000, "messages": QUESTION, "stream": True}
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{served.url}/v1/messages", json=body, headers=auth())
        assert response.status == 200
        await response.content.readline()  # the first event, then hang up
        response.connection.transport.abort()  # type: ignore[union-attr]
        response.release()
    [(outcome, _, _, _, output_tokens, _)] = await ledger_rows(served)
    assert outcome == "cancelled"
    assert 0 < int(output_tokens) < 600_000  # what was sent: not the whole answer, not free


async def test_count_tokens_calls_no_model(served: Served, up: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    counted = await client.messages.count_tokens(model="default", messages=QUESTION, system="Be brief.")
    assert counted.input_tokens > 0
    assert up.requests == []
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="nope", messages=QUESTION)


async def test_claude_codes_mid_conversation_system_turns_and_beta_fields(
    client: anthropic.AsyncAnthropic, up: FakeUpstream
) -> None:
    """What Claude Code sends: a ``system`` turn among the messages, and beta fields (``context_management``)
    that need an ``anthropic-beta`` header the gateway does not pass on."""
    up.script(Reply(text="Hello."))
    messages: list[Any] = [*QUESTION, {"role": "system", "content": "Agents available: none."}]
    await client.messages.create(
        model="default",
        max_tokens=50,
        system="You are a coding agent.",
        messages=messages,
        extra_body={"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}},
    )
    (sent,) = up.requests
    assert sent.body is not None
    assert [(m["role"], m["content"]) for m in sent.body["messages"]] == [
        ("system", "You are a coding agent."),
        ("user", "What is the capital of France?"),
        ("system", "Agents available: none."),
    ]
    assert "context_management" not in sent.body


async def test_an_answer_cut_at_max_tokens_says_so(client: anthropic.AsyncAnthropic, up: FakeUpstream) -> None:
    up.script(Reply(text="Paris is", finish_reason="length"))
    message = await client.messages.create(model="default", max_tokens=2, messages=QUESTION)
    assert message.stop_reason == "max_tokens"
