"""The OpenAI wire format of FakeUpstream, judged by the official openai SDK as its client."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from fake_upstream_support import API_KEY
from pydantic import BaseModel

from agentrt.testing import FakeUpstream, Fault, Reply

WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class Invoice(BaseModel):
    number: str
    total: float
    lines: list[str]


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=upstream.openai_base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


async def test_plain_call_parses_text_usage_and_id(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    upstream.script(Reply(text="Hello, world", usage=(12, 3), cached_tokens=4))

    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))

    assert completion.id == "chatcmpl-fake000001"
    assert completion.model == "gpt-4o-mini"
    choice = completion.choices[0]
    assert choice.message.content == "Hello, world"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    assert completion.usage.total_tokens == 15
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 4


async def test_unscripted_call_echoes_the_last_user_message(client: openai.AsyncOpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second "}, {"type": "text", "text": "question"}]},
    ]

    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert completion.choices[0].message.content == "echo: second question"
    input_chars = len("be brief") + len("first question") + len("first answer") + len("second question")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == math.ceil(input_chars / 4)
    assert completion.usage.completion_tokens == math.ceil(len("echo: second question") / 4)


async def test_stream_deltas_concatenate_and_usage_comes_last(
    upstream: FakeUpstream, client: openai.AsyncOpenAI
) -> None:
    upstream.script(Reply(text="The quick brown fox jumps", chunk_size=5, usage=(7, 4)))

    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=user("go"), stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The quick brown fox jumps"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    *body, last = chunks
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (7, 4)
    assert all(c.usage is None for c in body)
    assert upstream.requests[0].stream is True


async def test_stream_without_include_usage_sends_no_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=user("hello"), stream=True)
    chunks = [chunk async for chunk in stream]

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: hello"
    assert all(c.usage is None for c in chunks)


async def test_tool_call_plain(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    upstream.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]))

    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("weather?"),
        tools=[WEATHER_TOOL],
    )

    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]  # type: ignore[union-attr]
    assert calls == [
        ("call_fake000001", "get_weather", {"city": "Paris"}),
        ("call_fake000002", "get_weather", {"city": "Rome"}),
    ]
    assert upstream.requests[0].body["tools"][0]["function"]["name"] == "get_weather"


async def test_tool_call_streamed_as_deltas(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    arguments = {"city": "Paris", "unit": "celsius"}
    upstream.script(Reply(text="Checking.", tool_calls=[("get_weather", arguments)], chunk_size=4))

    async with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=user("weather?"),
        tools=[WEATHER_TOOL],
    ) as stream:
        argument_deltas = 0
        async for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                argument_deltas += 1
        final = await stream.get_final_completion()

    assert argument_deltas > 1  # the arguments really came in fragments
    message = final.choices[0].message
    assert message.content == "Checking."
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == arguments
    assert final.choices[0].finish_reason == "tool_calls"


async def test_json_schema_output_parses_into_the_model(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.parse(
        model="gpt-4o-mini", messages=user("an invoice"), response_format=Invoice
    )

    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Invoice)
    assert parsed.lines  # the sample fills required arrays
    assert upstream.requests[0].body["response_format"]["type"] == "json_schema"


async def test_json_object_without_schema_is_a_json_object(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=user("json please"), response_format={"type": "json_object"}
    )

    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


async def test_embeddings_are_deterministic_unit_vectors(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    default = await client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta", "alpha"])
    as_floats = await client.embeddings.create(model="text-embedding-3-small", input=["alpha"], encoding_format="float")
    wider = await client.embeddings.create(model="text-embedding-3-small", input="alpha", dimensions=16)

    # The SDK asks for base64 unless told otherwise; the fake honours both encodings.
    assert upstream.requests[0].body["encoding_format"] == "base64"
    alpha, beta, alpha_again = (d.embedding for d in default.data)
    assert len(alpha) == 8
    assert math.isclose(math.fsum(v * v for v in alpha), 1.0, rel_tol=1e-5)
    assert alpha == alpha_again
    assert alpha != beta
    assert as_floats.data[0].embedding == alpha
    assert len(wider.data[0].embedding) == 16
    assert default.usage.prompt_tokens == 2 + 1 + 2  # ceil(chars / 4) of each input


async def test_rate_limit_with_retry_after(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    upstream.script(Fault(status=429, message="slow down", retry_after=2))

    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))

    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"
    assert "slow down" in caught.value.message
    # the fault was used up: the next call succeeds
    completion = await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))
    assert completion.choices[0].message.content == "echo: hi"


async def test_wrong_key_is_an_authentication_error(upstream: FakeUpstream) -> None:
    async with openai.AsyncOpenAI(base_url=upstream.openai_base_url, api_key="wrong-key", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))

    assert caught.value.code == "invalid_api_key"
    assert "wrong-key" not in str(caught.value)
    assert API_KEY not in str(caught.value)


async def test_context_length_error_shape(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    upstream.script(Fault(error_code="context_length_exceeded"))

    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("a very long prompt"))

    assert caught.value.status_code == 400
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "messages"
    assert "maximum context length" in caught.value.message


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors(upstream: FakeUpstream, client: openai.AsyncOpenAI, status: int) -> None:
    upstream.script(Fault(status=status))

    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user("hi"))

    assert caught.value.status_code == status
    assert caught.value.type == "server_error"


async def test_models_list(upstream: FakeUpstream, client: openai.AsyncOpenAI) -> None:
    upstream.script(Reply(), model="my-finetune")

    ids = [model.id async for model in client.models.list()]

    assert "gpt-4o-mini" in ids
    assert "my-finetune" in ids
    assert upstream.requests[0].api == "openai"
