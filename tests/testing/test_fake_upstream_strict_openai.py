"""The strict FakeUpstream refuses what OpenAI refuses, with OpenAI's own 400 body."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest
from fake_upstream_support import API_KEY, OPENAI_CHAT, OPENAI_HEADERS, openai_body, post_json, sse_data

from agentrt.testing import FakeUpstream

TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}


def with_messages(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": list(messages), **fields}


USER = {"role": "user", "content": "weather?"}
ASKS = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
ANSWER = {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def strict_schema(**overrides: Any) -> dict[str, Any]:
    """A strict-valid schema with a nested object and an array of objects; overrides replace its parts."""
    line = {
        "type": "object",
        "properties": {"sku": {"type": "string"}},
        "required": ["sku"],
        "additionalProperties": False,
    }
    address = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {"address": address, "lines": {"type": "array", "items": line}, "total": {"type": "number"}},
        "required": ["address", "lines", "total"],
        "additionalProperties": False,
    }
    for path, value in overrides.items():
        target = {"address": address, "line": line, "root": schema}[path.split("__")[0]]
        key = path.split("__")[1]
        if value is None:
            target.pop(key)
        else:
            target[key] = value
    return schema


def json_schema_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "invoice", "strict": True, "schema": schema}}


def strict_tool(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": "file_invoice", "strict": True, "parameters": schema}}]


VALID = [
    pytest.param(openai_body(), id="plain"),
    pytest.param(with_messages(USER, max_completion_tokens=10), id="one-output-cap"),
    pytest.param(with_messages(USER, stream=True, stream_options={"include_usage": True}), id="stream-options"),
    pytest.param(with_messages(USER, ASKS, ANSWER), id="tool-call-answered"),
    pytest.param(with_messages(USER, response_format=json_schema_format(strict_schema())), id="strict-schema"),
    pytest.param(with_messages(USER, tools=strict_tool(strict_schema())), id="strict-tool"),
    pytest.param(
        with_messages(USER, response_format={"type": "json_schema", "json_schema": {"name": "loose", "schema": {}}}),
        id="non-strict-schema-unchecked",
    ),
]

INVALID = [
    pytest.param(
        with_messages(USER, seed_value=3), "Unrecognized request argument supplied: seed_value", None, id="unknown-key"
    ),
    pytest.param(
        with_messages({"role": "user", "content": [{"type": "text", "text": "hi", "detail": "x"}]}),
        "Invalid parameter: 'messages[0].content[0].detail': unknown parameter.",
        "messages[0].content[0].detail",
        id="unknown-nested-key",
    ),
    pytest.param(
        with_messages({"role": "robot", "content": "hi"}),
        "Invalid value: 'robot'. Supported values are: 'developer', 'system', 'user', 'assistant', 'tool', "
        "'function'.",
        "messages[0].role",
        id="bad-role",
    ),
    pytest.param(
        with_messages(USER, max_tokens=10, max_completion_tokens=10),
        "Invalid request: 'max_tokens' and 'max_completion_tokens' cannot both be set. "
        "Use 'max_completion_tokens' (max_tokens is deprecated).",
        "max_tokens",
        id="both-output-caps",
    ),
    pytest.param(
        with_messages(USER, stream_options={"include_usage": True}),
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "stream_options",
        id="stream-options-without-stream",
    ),
    pytest.param(
        with_messages(USER, ASKS, {"role": "user", "content": "and?"}),
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        "'tool_call_id'. The following tool_call_ids did not have response messages: call_1",
        "messages.[2].role",
        id="tool-call-unanswered",
    ),
    pytest.param(
        with_messages(USER, ANSWER),
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
        "'tool_calls' (no unanswered tool call has the id 'call_1').",
        "messages.[1].role",
        id="orphan-tool-message",
    ),
    pytest.param(
        with_messages(USER, ASKS, ANSWER, ANSWER),
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
        "'tool_calls' (no unanswered tool call has the id 'call_1').",
        "messages.[3].role",
        id="tool-call-answered-twice",
    ),
    pytest.param(
        with_messages(USER, response_format=json_schema_format(strict_schema(address__additionalProperties=None))),
        "Invalid schema for response_format 'invoice': In context=('properties', 'address'), "
        "'additionalProperties' is required to be supplied and to be false.",
        "response_format",
        id="strict-schema-nested-open-object",
    ),
    pytest.param(
        with_messages(USER, response_format=json_schema_format(strict_schema(line__required=[]))),
        "Invalid schema for response_format 'invoice': In context=('properties', 'lines', 'items'), 'required' "
        "is required to be supplied and to be an array including every key in properties. Missing 'sku'.",
        "response_format",
        id="strict-schema-array-item-not-required",
    ),
    pytest.param(
        with_messages(USER, tools=strict_tool(strict_schema(root__required=["address", "lines"]))),
        "Invalid schema for function 'file_invoice': In context=(), 'required' is required to be supplied and "
        "to be an array including every key in properties. Missing 'total'.",
        "tools[0].function.parameters",
        id="strict-tool-optional-property",
    ),
]


@pytest.mark.parametrize("body", VALID)
async def test_a_request_openai_accepts_is_answered(
    upstream: FakeUpstream, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    if body.get("stream"):
        events = await sse_data(session, upstream.url + OPENAI_CHAT, body, OPENAI_HEADERS)
        assert events[-1] == "[DONE]"
    else:
        status, answer = await post_json(session, upstream.url + OPENAI_CHAT, body, OPENAI_HEADERS)
        assert (status, answer["object"]) == (200, "chat.completion")
    assert upstream.rejected == []


@pytest.mark.parametrize(("body", "message", "param"), INVALID)
async def test_a_request_openai_refuses_gets_its_400(
    upstream: FakeUpstream, session: aiohttp.ClientSession, body: dict[str, Any], message: str, param: str | None
) -> None:
    status, answer = await post_json(session, upstream.url + OPENAI_CHAT, body, OPENAI_HEADERS)
    assert status == 400
    assert answer == {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    assert [r.rejection for r in upstream.requests] == [message]
    assert upstream.rejected == upstream.requests


async def test_lenient_answers_what_openai_would_refuse(session: aiohttp.ClientSession) -> None:
    async with FakeUpstream(lenient=True) as upstream:
        body = with_messages(USER, max_tokens=10, max_completion_tokens=10, seed_value=1)
        status, _ = await post_json(session, upstream.url + OPENAI_CHAT, body, {})
    assert status == 200
    assert upstream.lenient
    assert upstream.requests[0].rejection is None


async def test_embeddings_are_checked_too(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    url = upstream.url + "/v1/embeddings"
    ok, _ = await post_json(session, url, {"model": "text-embedding-3-small", "input": ["a"]}, OPENAI_HEADERS)
    bad = {"model": "text-embedding-3-small", "input": ["a"], "temperature": 0.2}
    status, answer = await post_json(session, url, bad, OPENAI_HEADERS)
    assert ok == 200
    assert status == 400
    assert answer["error"]["message"] == "Unrecognized request argument supplied: temperature"


async def test_the_openai_sdk_raises_its_bad_request_error(upstream: FakeUpstream) -> None:
    async with openai.AsyncOpenAI(base_url=upstream.openai_base_url, api_key=API_KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[USER], max_tokens=5, max_completion_tokens=5
            )
    assert caught.value.status_code == 400
    assert caught.value.param == "max_tokens"
    assert caught.value.type == "invalid_request_error"
    assert "cannot both be set" in caught.value.message
