"""The official openai SDK, as a real client, against the server; the runtime's provider is a FakeUpstream."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from server_support import USER_KEY, Served, serving

from agentrt.calls import Admission, PolicyHook
from agentrt.errors import PolicyDenied, RateLimitExceeded
from agentrt.testing import FakeUpstream, Fault, Reply


@pytest.fixture
async def client(served: Served) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=served.url + "/v1", api_key=USER_KEY, max_retries=0) as c:
        yield c


async def test_a_plain_completion_has_openai_shape_usage_and_the_served_model(
    client: AsyncOpenAI, served: Served
) -> None:
    served.up.script(Reply(text="Paris", usage=(12, 3)))
    result = await client.chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "capital of France?"}],
        temperature=0.2,
        max_tokens=50,
        top_p=0.9,
        stop="\n\n",
    )
    completion = result.parse()
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gpt-test"  # the configured model that answered the alias
    assert completion.choices[0].message.content == "Paris"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    assert completion.usage.total_tokens == 15
    assert result.headers["x-agentrt-provider"] == "oai"
    assert float(result.headers["x-agentrt-cost-usd"]) == pytest.approx((12 * 1.0 + 3 * 2.0) / 1e6)
    sent = served.up.requests[-1].body
    assert sent["model"] == "gpt-test"
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "capital of France?"},
    ]
    assert (sent["temperature"], sent["max_completion_tokens"], sent["top_p"], sent["stop"]) == (
        0.2,
        50,
        0.9,
        ["\n\n"],
    )


async def test_unknown_fields_reach_the_provider_as_model_parameters(tmp_path: Path) -> None:
    # A lenient upstream: the real OpenAI would refuse `frobnicate`; the point is that it gets through.
    async with (
        FakeUpstream(lenient=True) as up,
        serving(up, tmp_path) as served,
        AsyncOpenAI(base_url=served.url + "/v1", api_key=USER_KEY, max_retries=0) as client,
    ):
        await client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}],
            seed=7,
            extra_body={"logit_bias": {"42": 1}, "frobnicate": True, "fallbacks": ["x"], "timeout": 3},
        )
    sent = up.requests[-1].body
    assert sent["seed"] == 7
    assert sent["logit_bias"] == {"42": 1}
    assert sent["frobnicate"] is True
    # Named like agentrt options, they are still the model's: they change nothing about the call.
    assert sent["fallbacks"] == ["x"]
    assert sent["timeout"] == 3
    assert sent["messages"][0] == {"role": "system", "content": "rules"}  # developer is the system role


async def test_a_stream_parses_in_the_sdk_and_ends_with_the_usage_chunk(client: AsyncOpenAI, served: Served) -> None:
    served.up.script(Reply(text="one two three four", usage=(5, 4), chunk_size=4))
    stream = await client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "count"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (5, 4, 9)
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


async def test_a_stream_without_include_usage_has_no_usage_chunk(client: AsyncOpenAI, served: Served) -> None:
    stream = await client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


async def test_tools_are_offered_and_the_models_tool_calls_come_back(client: AsyncOpenAI, served: Served) -> None:
    served.up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    completion = await client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None
    assert len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    sent = served.up.requests[-1].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["function"]["parameters"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


async def test_the_tool_turns_of_a_conversation_reach_the_provider(client: AsyncOpenAI, served: Served) -> None:
    served.up.script(Reply(text="It is sunny."))
    completion = await client.chat.completions.create(
        model="default",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24 C"},
        ],
        tools=[WEATHER_TOOL],
    )
    assert completion.choices[0].message.content == "It is sunny."
    sent = served.up.requests[-1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_1"
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24 C"}


async def test_streamed_tool_calls_rebuild_in_the_sdk(client: AsyncOpenAI, served: Served) -> None:
    served.up.script(Reply(tool_calls=[("get_weather", {"city": "Rome"})]))
    stream = await client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "weather in Rome?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    name, arguments, ids, finish = "", "", set(), None
    async for chunk in stream:
        choice = chunk.choices[0]
        for delta in choice.delta.tool_calls or ():
            assert delta.index == 0
            if delta.id:
                ids.add(delta.id)
            if delta.function and delta.function.name:
                name += delta.function.name
            if delta.function and delta.function.arguments:
                arguments += delta.function.arguments
        finish = choice.finish_reason or finish
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": "Rome"}
    assert len(ids) == 1
    assert finish == "tool_calls"


async def test_response_format_json_schema_reaches_the_provider_and_json_comes_back(
    client: AsyncOpenAI, served: Served
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    completion = await client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "the biggest city of France"}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
    )
    data = json.loads(completion.choices[0].message.content or "")
    assert set(data) == {"city", "population"}
    sent = served.up.requests[-1].body["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}}


async def test_response_format_json_object(client: AsyncOpenAI, served: Served) -> None:
    await client.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "answer in JSON"}],
        response_format={"type": "json_object"},
    )
    assert served.up.requests[-1].body["response_format"] == {"type": "json_object"}


async def test_image_parts_reach_a_vision_model(client: AsyncOpenAI, served: Served) -> None:
    await client.chat.completions.create(
        model="default",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            }
        ],
    )
    parts = served.up.requests[-1].body["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "what is this?"}
    assert parts[1]["image_url"]["url"] == "https://example.com/cat.png"
    assert parts[2]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize("encoding", ["float", "base64"])
async def test_embeddings_in_both_encodings(client: AsyncOpenAI, served: Served, encoding: str) -> None:
    result = await client.embeddings.create(
        model="embedder",
        input=["alpha", "beta"],
        encoding_format=encoding,  # type: ignore[arg-type]
        dimensions=8,
    )
    assert [item.index for item in result.data] == [0, 1]
    vectors = [_floats(item.embedding) for item in result.data]
    assert all(len(v) == 8 for v in vectors)
    assert all(sum(x * x for x in v) == pytest.approx(1.0, rel=1e-5) for v in vectors)  # the fake's unit vectors
    assert vectors[0] != vectors[1]
    assert result.model == "embedder"
    assert result.usage.prompt_tokens > 0
    sent = served.up.requests[-1].body
    assert sent["input"] == ["alpha", "beta"]
    assert sent["dimensions"] == 8
    assert sent["encoding_format"] == "float"  # the server decodes floats itself


def _floats(embedding: object) -> list[float]:
    if isinstance(embedding, str):  # asked for base64 explicitly, the SDK hands it over as it came
        return list(struct.unpack(f"<{len(base64.b64decode(embedding)) // 4}f", base64.b64decode(embedding)))
    assert isinstance(embedding, list)
    return embedding


async def test_embeddings_of_one_string_match_the_list_form(client: AsyncOpenAI) -> None:
    single = await client.embeddings.create(model="embedder", input="alpha", encoding_format="float")
    listed = await client.embeddings.create(model="embedder", input=["alpha"], encoding_format="float")
    assert single.data[0].embedding == listed.data[0].embedding


async def test_embeddings_in_the_sdks_default_encoding_decode_to_floats(client: AsyncOpenAI) -> None:
    default = await client.embeddings.create(model="embedder", input="alpha")  # the SDK asks for base64
    floats = await client.embeddings.create(model="embedder", input="alpha", encoding_format="float")
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)


async def test_models_lists_every_model_and_alias(client: AsyncOpenAI) -> None:
    page = await client.models.list()
    assert [(m.id, m.owned_by) for m in page.data] == [
        ("gpt-test", "oai"),
        ("default", "oai"),
        ("plain", "oai"),
        ("embedder", "oai"),
    ]
    model = await client.models.retrieve("default")
    assert (model.id, model.object) == ("default", "model")
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("nope")


# --- errors, as the SDK raises them -----------------------------------------------------------


async def test_a_wrong_key_is_an_authentication_error_and_reaches_no_provider(served: Served) -> None:
    async with AsyncOpenAI(base_url=served.url + "/v1", api_key="sk-agentrt-wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as caught:
            await bad.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert served.up.requests == []


async def test_an_unknown_model_is_not_found_and_names_the_model(client: AsyncOpenAI, served: Served) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"
    assert "gpt-nope" in caught.value.message
    assert served.up.requests == []


async def test_a_capability_the_model_lacks_is_a_bad_request(client: AsyncOpenAI, served: Served) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="plain",
            messages=[{"role": "user", "content": "hi"}],
            tools=[WEATHER_TOOL],
        )
    assert "tools" in caught.value.message
    assert served.up.requests == []


class DenyInterns:
    """A policy hook that denies every call, as a deny rule would."""

    async def admit(self, admission: Admission) -> object | None:
        raise PolicyDenied(
            f"denied by rule 'no-interns' for user {admission.principal.user!r}: interns use the small models",
            rule="no-interns",
            reason="interns use the small models",
        )

    async def settle(self, reservation: object | None, usage: object, cost: float | None) -> None:
        return None

    async def release(self, reservation: object | None) -> None:
        return None


class RateLimited(DenyInterns):
    async def admit(self, admission: Admission) -> object | None:
        raise RateLimitExceeded(
            "user alice: 60 requests per minute reached", scope="user", limit="rpm", retry_after=2.5
        )


async def test_a_policy_denial_is_permission_denied_with_the_rules_reason(up: FakeUpstream, tmp_path: Path) -> None:
    async with (
        serving(up, tmp_path, overrides=[(PolicyHook, DenyInterns())]) as s,
        AsyncOpenAI(base_url=s.url + "/v1", api_key=USER_KEY, max_retries=0) as c,
    ):
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await c.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.PermissionDeniedError):
            await c.embeddings.create(model="embedder", input="x")
        with pytest.raises(openai.PermissionDeniedError):  # a stream refused before its first event: plain JSON
            await c.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert caught.value.code == "policy_denied"
    assert "interns use the small models" in caught.value.message
    assert "'alice'" in caught.value.message  # the key's principal is what the policy saw
    assert up.requests == []


async def test_a_policy_rate_limit_is_a_rate_limit_error_with_retry_after(up: FakeUpstream, tmp_path: Path) -> None:
    async with (
        serving(up, tmp_path, overrides=[(PolicyHook, RateLimited())]) as s,
        AsyncOpenAI(base_url=s.url + "/v1", api_key=USER_KEY, max_retries=0) as c,
    ):
        with pytest.raises(openai.RateLimitError) as caught:
            await c.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["retry-after"] == "3"  # 2.5 s, in whole seconds
    assert caught.value.code == "rate_limit_exceeded"


async def test_an_upstream_rate_limit_is_a_rate_limit_error_with_the_providers_retry_after(
    client: AsyncOpenAI, served: Served
) -> None:
    served.up.script(Fault(status=429, retry_after=7, times=5))
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["retry-after"] == "7"


async def test_an_upstream_failing_after_retries_is_a_503(client: AsyncOpenAI, served: Served) -> None:
    served.up.script(Fault(status=500, times=2))  # both attempts of the configured retry policy
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    assert caught.value.code in ("upstream_failed", "upstream_unavailable")  # as one error, or one kind
    assert len(served.up.requests) == 2
    assert "sk-upstream" not in caught.value.message


async def test_an_upstream_timeout_is_a_504(up: FakeUpstream, tmp_path: Path) -> None:
    providers = {
        "oai": {
            "kind": "openai",
            "api_key": "sk-upstream-x",
            "base_url": up.openai_base_url,
            "timeout": "50ms",
            "retry": {"attempts": 1},
        }
    }
    up.script(Fault(delay=2.0))
    async with (
        serving(up, tmp_path, providers=providers) as s,
        AsyncOpenAI(base_url=s.url + "/v1", api_key=USER_KEY, max_retries=0) as c,
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            await c.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"


async def test_a_stream_cut_by_the_upstream_ends_with_an_error_event(client: AsyncOpenAI, served: Served) -> None:
    served.up.script(Fault(cut_stream_after=3, times=5))
    stream = await client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "a long question to answer"}], stream=True
    )
    received: list[Any] = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk)

    with pytest.raises(openai.APIError) as caught:
        await consume()
    assert received  # the error came after output, inside the stream
    assert received[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].finish_reason is None for c in received)  # it never claimed to have finished
    assert caught.value.message
