"""The strict FakeUpstream refuses what Anthropic refuses, with Anthropic's own 400 body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import pytest
from fake_upstream_support import ANTHROPIC_HEADERS, ANTHROPIC_MESSAGES, API_KEY, anthropic_body, post_json

from agentrt.testing import FakeUpstream, Reply

MODEL = "claude-sonnet-4-5"
TOOL: Any = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}
THINKING_DOCS = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
USER = {"role": "user", "content": "weather in Oslo?"}
USES = {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]}
RESULT = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}


def body_with(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": list(messages), **fields}


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=upstream.anthropic_base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


VALID = [
    pytest.param(anthropic_body(), id="plain"),
    pytest.param(body_with(USER, temperature=1.0, top_p=0.9, top_k=5), id="sampling-in-range"),
    pytest.param(body_with(USER, USES, RESULT, tools=[TOOL]), id="tool-use-answered"),
    pytest.param(
        body_with(USER, thinking=THINKING, max_tokens=2048, temperature=1, top_p=0.95), id="thinking-within-limits"
    ),
    pytest.param(
        body_with(USER, thinking=THINKING, max_tokens=2048, tools=[TOOL], tool_choice={"type": "auto"}),
        id="thinking-with-tool-choice-auto",
    ),
]

INVALID = [
    pytest.param(
        body_with({"role": "user", "content": [{"type": "text", "text": "hi", "cache": True}]}),
        "messages.0.content.0.cache: Extra inputs are not permitted",
        id="unknown-block-key",
    ),
    pytest.param(body_with(USER, seed=1), "seed: Extra inputs are not permitted", id="unknown-key"),
    pytest.param(body_with(USER, temperature=1.5), "temperature: range: 0..1", id="temperature-above-1"),
    pytest.param(body_with(USER, temperature=-0.1), "temperature: range: 0..1", id="temperature-below-0"),
    pytest.param(
        body_with(USER, thinking={"type": "enabled", "budget_tokens": 512}, max_tokens=4096),
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        id="thinking-budget-too-small",
    ),
    pytest.param(
        body_with(USER, thinking=THINKING, max_tokens=1024),
        "`max_tokens` must be greater than `thinking.budget_tokens`. " + THINKING_DOCS,
        id="thinking-budget-not-under-max-tokens",
    ),
    pytest.param(
        body_with(USER, thinking=THINKING, max_tokens=4096, temperature=0.2),
        "`temperature` may only be set to 1 when thinking is enabled. " + THINKING_DOCS,
        id="thinking-with-temperature",
    ),
    pytest.param(
        body_with(USER, thinking=THINKING, max_tokens=4096, tools=[TOOL], tool_choice={"type": "any"}),
        "Thinking may not be enabled when tool_choice forces tool use.",
        id="thinking-with-forced-tool",
    ),
    pytest.param(
        body_with(USER, thinking=THINKING, max_tokens=4096, top_k=5),
        "`top_k` must be unset when thinking is enabled. " + THINKING_DOCS,
        id="thinking-with-top-k",
    ),
    pytest.param(
        body_with(USER, USES, {"role": "user", "content": "and?"}),
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message.",
        id="tool-use-unanswered",
    ),
    pytest.param(
        body_with(USER, {"role": "assistant", "content": "let me see"}, RESULT),
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. Each "
        "`tool_result` block must have a corresponding `tool_use` block in the previous message.",
        id="orphan-tool-result",
    ),
    pytest.param(
        body_with(
            USER,
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "bm90LXNpZ25lZA"}]},
            {"role": "user", "content": "go on"},
        ),
        "messages.1.content.0: Invalid `signature` in `thinking` block",
        id="thinking-never-issued",
    ),
]


@pytest.mark.parametrize("body", VALID)
async def test_a_request_anthropic_accepts_is_answered(
    upstream: FakeUpstream, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    status, answer = await post_json(session, upstream.url + ANTHROPIC_MESSAGES, body, ANTHROPIC_HEADERS)
    assert (status, answer["type"]) == (200, "message")
    assert upstream.rejected == []


@pytest.mark.parametrize(("body", "message"), INVALID)
async def test_a_request_anthropic_refuses_gets_its_400(
    upstream: FakeUpstream, session: aiohttp.ClientSession, body: dict[str, Any], message: str
) -> None:
    status, answer = await post_json(session, upstream.url + ANTHROPIC_MESSAGES, body, ANTHROPIC_HEADERS)
    assert status == 400
    assert answer == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
        "request_id": "req_fake000001",
    }
    assert [r.rejection for r in upstream.requests] == [message]


async def test_the_anthropic_sdk_raises_its_bad_request_error(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model=MODEL, max_tokens=64, messages=[USER], extra_body={"temperature": 2})
    assert caught.value.status_code == 400
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "temperature: range: 0..1"},
        "request_id": "req_fake000001",
    }


async def first_turn(upstream: FakeUpstream, client: anthropic.AsyncAnthropic, *, stream: bool) -> list[Any]:
    """A tool call after signed thinking: the assistant content to send back, as the SDK parsed it."""
    upstream.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})], thinking="Oslo? Look it up."))
    kwargs: Any = {"model": MODEL, "max_tokens": 2048, "messages": [USER], "tools": [TOOL], "thinking": THINKING}
    if stream:
        async with client.messages.stream(**kwargs) as events:
            message = await events.get_final_message()
    else:
        message = await client.messages.create(**kwargs)
    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    assert message.content[0].thinking == "Oslo? Look it up."  # type: ignore[union-attr]
    assert message.content[0].signature  # type: ignore[union-attr]
    fields = {"type", "thinking", "signature", "id", "name", "input"}
    return [block.model_dump(include=fields) for block in message.content]


def second_turn(content: list[Any]) -> Any:
    tool_id = content[-1]["id"]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "sunny"}]}
    return [USER, {"role": "assistant", "content": content}, result]


@pytest.mark.parametrize("stream", [False, True])
async def test_thinking_sent_back_unchanged_is_accepted(
    upstream: FakeUpstream, client: anthropic.AsyncAnthropic, stream: bool
) -> None:
    content = await first_turn(upstream, client, stream=stream)
    message = await client.messages.create(
        model=MODEL, max_tokens=2048, messages=second_turn(content), tools=[TOOL], thinking=THINKING
    )
    assert message.stop_reason == "end_turn"
    assert upstream.rejected == []


async def test_altered_thinking_is_refused(upstream: FakeUpstream, client: anthropic.AsyncAnthropic) -> None:
    content = await first_turn(upstream, client, stream=False)
    content[0]["thinking"] += " "
    with pytest.raises(anthropic.BadRequestError, match=r"messages\.1\.content\.0: Invalid `signature`"):
        await client.messages.create(
            model=MODEL, max_tokens=2048, messages=second_turn(content), tools=[TOOL], thinking=THINKING
        )


async def test_dropped_thinking_is_refused_while_thinking_is_on(
    upstream: FakeUpstream, client: anthropic.AsyncAnthropic
) -> None:
    content = await first_turn(upstream, client, stream=False)
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL, max_tokens=2048, messages=second_turn(content[1:]), tools=[TOOL], thinking=THINKING
        )
    body: Any = caught.value.body
    assert body["error"]["message"].startswith(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`."
    )


CLOSED = {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": False}


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        pytest.param(CLOSED, None, id="closed-objects-optional-properties-allowed"),
        pytest.param(
            {"type": "object", "properties": {"stops": {"type": "array", "items": {"type": "object"}}},
             "additionalProperties": False},
            "output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false",
            id="open-object-in-array-items",
        ),
        pytest.param(
            {**CLOSED, "additionalProperties": True},
            "output_config.format.schema: For 'object' type, 'additionalProperties: true' is not supported. "
            "Please set 'additionalProperties' to false",
            id="additional-properties-true",
        ),
    ],
)
async def test_structured_output_takes_only_closed_objects(
    upstream: FakeUpstream, session: aiohttp.ClientSession, schema: dict[str, Any], message: str | None
) -> None:
    body = body_with(USER, output_config={"format": {"type": "json_schema", "schema": schema}})
    status, answer = await post_json(session, upstream.url + ANTHROPIC_MESSAGES, body, ANTHROPIC_HEADERS)
    if message is None:
        assert status == 200
    else:
        assert (status, answer["error"]["message"]) == (400, message)


async def test_strict_tools_take_only_closed_objects(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    tool = {"name": "find", "strict": True, "input_schema": {"type": "object", "properties": {}}}
    status, answer = await post_json(
        session, upstream.url + ANTHROPIC_MESSAGES, body_with(USER, tools=[tool]), ANTHROPIC_HEADERS
    )
    assert (status, answer["error"]["message"]) == (
        400,
        "tools.0.custom.input_schema: For 'object' type, 'additionalProperties' must be explicitly set to false",
    )


async def test_beta_fields_need_the_beta_header(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    body = body_with(USER, context_management={"edits": [{"type": "clear_tool_uses_20250919"}]})
    url = upstream.url + ANTHROPIC_MESSAGES
    refused, answer = await post_json(session, url, body, ANTHROPIC_HEADERS)
    beta_headers = {**ANTHROPIC_HEADERS, "anthropic-beta": "context-management-2025-06-27"}
    accepted, _ = await post_json(session, url, body, beta_headers)
    assert (refused, answer["error"]["message"]) == (400, "context_management: Extra inputs are not permitted")
    assert accepted == 200
