"""Bad input: a 400 with the path of the problem (or a 413, 404, 405), in OpenAI's shape, never a 500."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import Served, auth

from agentrt.server.errors import HttpError
from agentrt.server.openai_models import ChatCompletionRequest
from agentrt.server.validation import parse_body

OK_MESSAGES = [{"role": "user", "content": "hi"}]


async def post(served: Served, http: aiohttp.ClientSession, path: str, data: Any) -> tuple[int, dict[str, Any]]:
    raw = data if isinstance(data, bytes) else None
    kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": data}
    async with http.post(served.url + path, headers=auth(), **kwargs) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        (
            {"model": "default", "messages": [{"role": "robot", "content": "x"}]},
            "messages.0.role",
            "system, developer, user, assistant, tool",
        ),
        ({"model": "default", "messages": [{"content": "x"}]}, "messages.0.role", "role"),
        ({"model": "default", "messages": [{"role": "user", "content": 5}]}, "messages.0.content", "string"),
        (
            {"model": "default", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages.0.content.0.text",
            "required",
        ),
        (
            {"model": "default", "messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages.0.content.0.type",
            "text, image_url",
        ),
        ({"model": "default", "messages": [{"role": "tool", "content": "x"}]}, "messages.0.tool_call_id", "required"),
        ({"model": "default", "messages": []}, "messages", "at least 1"),
        ({"messages": OK_MESSAGES}, "model", "required"),
        ({"model": 42, "messages": OK_MESSAGES}, "model", "string"),
        ({"model": "default", "messages": OK_MESSAGES, "temperature": 9}, "temperature", "less than or equal"),
        ({"model": "default", "messages": OK_MESSAGES, "max_tokens": 0}, "max_tokens", "greater than"),
        ({"model": "default", "messages": OK_MESSAGES, "n": 3}, "n", "one choice"),
        ({"model": "default", "messages": OK_MESSAGES, "stream": "yes please"}, "stream", "boolean"),
        ({"model": "default", "messages": OK_MESSAGES, "tool_choice": "always"}, "tool_choice", "none"),
        (
            {"model": "default", "messages": OK_MESSAGES, "response_format": {"type": "yaml"}},
            "response_format.type",
            "json_schema",
        ),
        (
            {"model": "default", "messages": OK_MESSAGES, "tools": [{"type": "function", "function": {}}]},
            "tools.0.function.name",
            "required",
        ),
        (
            {
                "model": "default",
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
                        ],
                    }
                ],
            },
            "messages.0.tool_calls.0.function.arguments",
            "not valid JSON",
        ),
        (
            {
                "model": "default",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}],
                    }
                ],
            },
            "messages.0.content.0.image_url.url",
            "base64",
        ),
    ],
)
async def test_a_bad_chat_request_is_a_400_naming_the_path(
    served: Served, http: aiohttp.ClientSession, body: dict[str, Any], param: str, words: str
) -> None:
    status, answer = await post(served, http, "/v1/chat/completions", body)
    assert status == 400, answer
    error = answer["error"]
    assert error["param"] == param
    assert error["message"].startswith(f"{param}: ")
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    assert served.up.requests == []


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"", "no body"),
        (b"\xff\xfe", "JSON"),
        (b'"text"', "JSON object"),
        (b"null", "JSON object"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_400(
    served: Served, http: aiohttp.ClientSession, raw: bytes, words: str
) -> None:
    status, answer = await post(served, http, "/v1/chat/completions", raw)
    assert status == 400
    assert words in answer["error"]["message"]
    assert answer["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "embedder", "input": [1, 2, 3]}, "input"),
        ({"model": "embedder", "input": []}, "input"),
        ({"model": "embedder"}, "input"),
        ({"model": "embedder", "input": "x", "encoding_format": "hex"}, "encoding_format"),
    ],
)
async def test_a_bad_embeddings_request_is_a_400(
    served: Served, http: aiohttp.ClientSession, body: dict[str, Any], param: str
) -> None:
    status, answer = await post(served, http, "/v1/embeddings", body)
    assert status == 400
    assert answer["error"]["param"] == param


async def test_a_body_over_max_body_is_a_413_in_openai_shape(served: Served, http: aiohttp.ClientSession) -> None:
    huge = {"model": "default", "messages": [{"role": "user", "content": "x" * 70_000}]}  # max_body is 64 KB
    status, answer = await post(served, http, "/v1/chat/completions", huge)
    assert status == 413
    assert answer["error"]["code"] == "request_too_large"
    assert "server.max_body" in answer["error"]["message"]
    assert served.up.requests == []


async def test_an_unknown_route_is_a_404_and_a_wrong_method_a_405(served: Served, http: aiohttp.ClientSession) -> None:
    async with http.get(served.url + "/v1/nothing-here", headers=auth()) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "unknown_route"
    async with http.get(served.url + "/v1/chat/completions", headers=auth()) as response:
        assert response.status == 405
        assert "POST" in response.headers["Allow"]
        assert (await response.json())["error"]["code"] == "method_not_allowed"


# --- properties: whatever the body, parse_body answers a model or a 400, never another error ----------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "robot"])},
    optional={"content": json_values, "tool_call_id": json_values, "tool_calls": json_values, "name": json_values},
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.text(max_size=5) | json_values,
        "messages": st.lists(message, max_size=3) | json_values,
        "tools": json_values,
        "tool_choice": st.sampled_from(["auto", "none", "x"]) | json_values,
        "response_format": json_values,
        "stop": json_values,
        "temperature": json_values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_json_body_is_a_model_or_a_400(body: dict[str, Any]) -> None:
    from agentrt.server.openai_convert import chat_call

    try:
        chat_call(parse_body(ChatCompletionRequest, json.dumps(body).encode()))
    except HttpError as err:
        refusal = err.info
    else:
        return
    assert refusal.status == 400
    assert refusal.message
