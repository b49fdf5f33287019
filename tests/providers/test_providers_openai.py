"""The OpenAI client against the FakeUpstream over loopback HTTP: what it sends, what it reads."""

from __future__ import annotations

import math

import pytest
from providers_support import WEATHER, Invoice

from agentrt.providers import OpenAIClient
from agentrt.testing import FakeUpstream, Reply
from agentrt.types import (
    ChatRequest,
    EmbeddingRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamFinish,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)


def chat(*messages: Message, **fields: object) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=list(messages), **fields)  # type: ignore[arg-type]


async def test_complete_sends_the_chat_body_and_reads_text_usage_and_model(
    up: FakeUpstream, make_client, api_key: str
) -> None:
    client: OpenAIClient = make_client("openai")
    up.script(Reply(text="Hello there", usage=(12, 3), cached_tokens=5))
    response = await client.complete(
        chat(
            Message.system("Be brief."),
            Message.user("Hi"),
            max_output_tokens=50,
            temperature=0.2,
            top_p=0.9,
            stop=["END"],
        )
    )
    assert response.text == "Hello there"
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.cached_tokens) == (12, 3, 5)
    assert response.model == "gpt-4o-mini"
    assert response.tool_calls == []
    assert response.raw["choices"][0]["message"]["content"] == "Hello there"
    sent = up.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {api_key}"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_completion_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
    }


async def test_stream_yields_text_deltas_then_one_finish_with_usage(up: FakeUpstream, make_client) -> None:
    client = make_client("openai")
    up.script(Reply(text="one two three four five", chunk_size=4, usage=(7, 6)))
    events = [event async for event in client.stream(chat(Message.user("count")))]
    deltas = [e for e in events[:-1] if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == "one two three four five"
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert sum(isinstance(e, StreamFinish) for e in events) == 1
    assert finish.finish_reason == "stop"
    assert (finish.usage.input_tokens, finish.usage.output_tokens) == (7, 6)
    assert finish.tool_calls == []
    body = up.requests[-1].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_tool_calls_are_sent_as_function_tools_and_read_back(up: FakeUpstream, make_client) -> None:
    client = make_client("openai")
    up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]))
    response = await client.complete(chat(Message.user("weather?"), tools=[WEATHER], tool_choice="get_weather"))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    assert len({c.id for c in response.tool_calls}) == 2
    assert response.finish_reason == "tool_calls"
    body = up.requests[-1].body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": WEATHER.description, "parameters": WEATHER.parameters},
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
async def test_the_named_tool_choices_pass_as_words(up: FakeUpstream, make_client, choice: str) -> None:
    await make_client("openai").complete(chat(Message.user("x"), tools=[WEATHER], tool_choice=choice))
    assert up.requests[-1].body["tool_choice"] == choice


async def test_streamed_tool_call_arguments_are_assembled_from_fragments(up: FakeUpstream, make_client) -> None:
    client = make_client("openai")
    up.script(Reply(tool_calls=[("get_weather", {"city": "San Francisco", "unit": "celsius"})], chunk_size=5))
    events = [event async for event in client.stream(chat(Message.user("weather?"), tools=[WEATHER]))]
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(fragments) > 2
    assert fragments[0].name == "get_weather"
    assert fragments[0].id
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in finish.tool_calls] == [
        (fragments[0].id, "get_weather", {"city": "San Francisco", "unit": "celsius"})
    ]


async def test_a_tool_round_trip_is_sent_as_assistant_tool_calls_and_tool_messages(
    up: FakeUpstream, make_client
) -> None:
    client = make_client("openai")
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    await client.complete(
        chat(
            Message.user("weather?"),
            Message.assistant("", [call]),
            Message.tool("call_1", "sunny", name="get_weather"),
            tools=[WEATHER],
        )
    )
    messages = up.requests[-1].body["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


async def test_a_json_schema_request_is_strict_json_schema_and_the_answer_validates(
    up: FakeUpstream, make_client
) -> None:
    client = make_client("openai")
    schema = Invoice.model_json_schema()
    response = await client.complete(
        chat(Message.user("invoice?"), response_format=ResponseFormat(schema=schema, name="invoice"))
    )
    assert up.requests[-1].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "invoice", "schema": schema, "strict": True},
    }
    Invoice.model_validate_json(response.text)


async def test_json_without_a_schema_is_json_object_mode(up: FakeUpstream, make_client) -> None:
    await make_client("openai").complete(chat(Message.user("JSON please"), response_format=ResponseFormat()))
    assert up.requests[-1].body["response_format"] == {"type": "json_object"}


async def test_images_are_image_url_parts_with_data_urls_for_bytes(up: FakeUpstream, make_client) -> None:
    client = make_client("openai")
    content = [
        TextPart("What is in these?"),
        ImagePart(data=b"\x89PNG", media_type="image/png"),
        ImagePart(url="https://example.com/cat.jpg"),
    ]
    await client.complete(chat(Message.user(content)))
    assert up.requests[-1].body["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]


async def test_unknown_params_pass_through_into_the_body_unchanged(up: FakeUpstream, make_client) -> None:
    params = {"seed": 7, "logit_bias": {"50256": -100}, "reasoning_effort": "low", "temperature": 1.5}
    await make_client("openai").complete(chat(Message.user("x"), temperature=0.1, params=params))
    body = up.requests[-1].body
    for key, value in params.items():
        assert body[key] == value  # params win over the named fields: the caller asked for them


async def test_configured_headers_are_sent(up: FakeUpstream, make_client) -> None:
    client = make_client("openai", headers={"OpenAI-Organization": "org-1", "X-Trace": "abc"})
    await client.complete(chat(Message.user("x")))
    headers = up.requests[-1].headers
    assert headers["openai-organization"] == "org-1"
    assert headers["x-trace"] == "abc"


async def test_embeddings_are_one_unit_vector_per_input_in_order(up: FakeUpstream, make_client) -> None:
    client = make_client("openai")
    result = await client.embed(EmbeddingRequest(model="text-embedding-3-small", inputs=["alpha", "beta", "alpha"]))
    assert len(result.vectors) == 3
    assert all(len(v) == 8 for v in result.vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in result.vectors)
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert result.usage.input_tokens > 0
    sent = up.requests[-1]
    assert sent.path == "/v1/embeddings"
    assert sent.body == {
        "model": "text-embedding-3-small",
        "input": ["alpha", "beta", "alpha"],
        "encoding_format": "float",
    }


async def test_base64_embeddings_decode_to_the_same_vectors(up: FakeUpstream, make_client) -> None:
    client = make_client("openai")
    floats = await client.embed(EmbeddingRequest(model="e", inputs=["alpha"]))
    packed = await client.embed(EmbeddingRequest(model="e", inputs=["alpha"], params={"encoding_format": "base64"}))
    assert packed.vectors == floats.vectors


async def test_check_lists_the_models(up: FakeUpstream, make_client) -> None:
    description = await make_client("openai").check()
    assert up.requests[-1].path == "/v1/models"
    assert "models available" in description
    assert up.url in description
