"""The Anthropic client against the FakeUpstream over loopback HTTP: what it sends, what it reads."""

from __future__ import annotations

import base64

import pytest
from providers_support import WEATHER, Invoice

from agentrt.errors import ConfigError, ProviderBadRequest
from agentrt.providers import AnthropicClient
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
    return ChatRequest(model="claude-haiku-4-5", messages=list(messages), **fields)  # type: ignore[arg-type]


async def test_complete_sends_system_apart_and_reads_text_and_usage(
    up: FakeUpstream, make_client, api_key: str
) -> None:
    client: AnthropicClient = make_client("anthropic")
    up.script(Reply(text="Hello there", usage=(20, 4), cached_tokens=15))
    response = await client.complete(
        chat(Message.system("Be brief."), Message.system("Be kind."), Message.user("Hi"), stop=["END"])
    )
    assert response.text == "Hello there"
    assert response.finish_reason == "stop"
    # input_tokens includes the cache reads Anthropic counts apart
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.cached_tokens) == (20, 4, 15)
    assert response.model == "claude-haiku-4-5"
    sent = up.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == api_key
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 4096,
        "system": "Be brief.\n\nBe kind.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "stop_sequences": ["END"],
    }


async def test_max_tokens_comes_from_the_request_or_the_options(up: FakeUpstream, make_client) -> None:
    await make_client("anthropic").complete(chat(Message.user("x"), max_output_tokens=77))
    assert up.requests[-1].body["max_tokens"] == 77
    await make_client("anthropic", options={"max_tokens": 1000}).complete(chat(Message.user("x")))
    assert up.requests[-1].body["max_tokens"] == 1000


async def test_stream_yields_text_deltas_then_one_finish_with_usage(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic")
    up.script(Reply(text="one two three four five", chunk_size=4, usage=(9, 6)))
    events = [event async for event in client.stream(chat(Message.user("count")))]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == "one two three four five"
    assert sum(isinstance(e, StreamFinish) for e in events) == 1
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "stop"
    assert (finish.usage.input_tokens, finish.usage.output_tokens) == (9, 6)
    assert up.requests[-1].body["stream"] is True


async def test_tool_use_blocks_become_tool_calls(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic")
    up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]))
    response = await client.complete(chat(Message.user("weather?"), tools=[WEATHER], tool_choice="required"))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    assert response.finish_reason == "tool_calls"
    body = up.requests[-1].body
    assert body["tools"] == [
        {"name": "get_weather", "description": WEATHER.description, "input_schema": WEATHER.parameters}
    ]
    assert body["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    ("choice", "wire"),
    [("auto", {"type": "auto"}), ("none", {"type": "none"}), ("get_weather", {"type": "tool", "name": "get_weather"})],
)
async def test_tool_choices_map_to_anthropic_shapes(up: FakeUpstream, make_client, choice: str, wire: dict) -> None:
    await make_client("anthropic").complete(chat(Message.user("x"), tools=[WEATHER], tool_choice=choice))
    assert up.requests[-1].body["tool_choice"] == wire


async def test_streamed_tool_input_is_assembled_from_json_fragments(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic")
    up.script(
        Reply(
            text="Let me check.",
            tool_calls=[("get_weather", {"city": "San Francisco"}), ("get_weather", {"city": "Oslo"})],
            chunk_size=4,
        )
    )
    events = [event async for event in client.stream(chat(Message.user("weather?"), tools=[WEATHER]))]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me check."
    fragments = [e for e in events if isinstance(e, ToolCallDelta)]
    assert {f.index for f in fragments} == {0, 1}  # numbered per call, not per content block
    assert len(fragments) > 4
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in finish.tool_calls] == [
        ("get_weather", {"city": "San Francisco"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    assert [c.id for c in finish.tool_calls] == [f.id for f in fragments if f.id]


async def test_tool_results_go_in_one_user_turn_as_tool_result_blocks(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic")
    calls = [
        ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="toolu_2", name="get_weather", arguments={"city": "Oslo"}),
    ]
    await client.complete(
        chat(
            Message.user("weather?"),
            Message.assistant("Checking.", calls),
            Message.tool("toolu_1", "sunny"),
            Message.tool("toolu_2", "snow"),
            tools=[WEATHER],
        )
    )
    messages = up.requests[-1].body["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
    }
    assert messages[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "snow"},
        ],
    }
    assert len(messages) == 3


async def test_json_schema_uses_structured_outputs_and_the_answer_validates(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic")
    schema = Invoice.model_json_schema()
    response = await client.complete(
        chat(
            Message.user("invoice?"),
            response_format=ResponseFormat(schema=schema),
            params={"output_config": {"effort": "low"}},
        )
    )
    assert up.requests[-1].body["output_config"] == {
        "format": {"type": "json_schema", "schema": schema},
        "effort": "low",
    }
    Invoice.model_validate_json(response.text)


async def test_json_without_a_schema_asks_for_it_in_the_system_prompt(up: FakeUpstream, make_client) -> None:
    await make_client("anthropic").complete(chat(Message.user("x"), response_format=ResponseFormat()))
    body = up.requests[-1].body
    assert "JSON" in body["system"]
    assert "output_config" not in body


async def test_tool_json_mode_forces_an_output_tool_whose_input_is_the_text(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic", options={"json_output": "tool"})
    schema = Invoice.model_json_schema()
    answer = {"number": "A-1", "total": 9.5, "paid": True}
    up.script(Reply(tool_calls=[("invoice", answer)]), Reply(tool_calls=[("invoice", answer)], chunk_size=3))
    request = chat(Message.user("invoice?"), response_format=ResponseFormat(schema=schema, name="invoice"))
    response = await client.complete(request)
    body = up.requests[-1].body
    assert body["tools"][-1]["name"] == "invoice"
    assert body["tools"][-1]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": "invoice"}
    assert Invoice.model_validate_json(response.text) == Invoice(**answer)
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    events = [event async for event in client.stream(request)]
    assert not any(isinstance(e, ToolCallDelta) for e in events)
    assert Invoice.model_validate_json("".join(e.text for e in events if isinstance(e, TextDelta))) == Invoice(**answer)
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert (finish.finish_reason, finish.tool_calls) == ("stop", [])


async def test_tool_json_mode_wraps_a_schema_that_is_not_an_object(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic", options={"json_output": "tool"})
    schema = {"type": "array", "items": {"type": "integer"}}
    up.script(
        Reply(tool_calls=[("output", {"value": [1, 2, 3]})]), Reply(tool_calls=[("output", {"value": [1, 2, 3]})])
    )
    request = chat(Message.user("numbers"), response_format=ResponseFormat(schema=schema))
    assert (await client.complete(request)).text == "[1,2,3]"
    assert up.requests[-1].body["tools"][-1]["input_schema"]["properties"]["value"] == schema
    events = [event async for event in client.stream(request)]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "[1,2,3]"


async def test_images_are_base64_or_url_sources(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic")
    png = b"\x89PNG\r\n"
    content = [
        TextPart("What is this?"),
        ImagePart(data=png, media_type="image/png"),
        ImagePart(url="data:image/gif;base64,R0lGOD=="),
        ImagePart(url="https://example.com/cat.jpg"),
    ]
    await client.complete(chat(Message.user(content)))
    blocks = up.requests[-1].body["messages"][0]["content"]
    assert blocks == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(png).decode()},
        },
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGOD=="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


async def test_unknown_params_pass_through_into_the_body_unchanged(up: FakeUpstream, make_client) -> None:
    # top_k and thinking are valid alone, not together (the strict fake refuses them as the API does).
    params = {"metadata": {"user_id": "u-1"}, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    await make_client("anthropic").complete(chat(Message.user("x"), params=params))
    body = up.requests[-1].body
    for key, value in params.items():
        assert body[key] == value


async def test_configured_headers_are_sent_and_may_override_the_version(up: FakeUpstream, make_client) -> None:
    client = make_client("anthropic", headers={"anthropic-beta": "feature-x", "anthropic-version": "2099-01-01"})
    await client.complete(chat(Message.user("x")))
    headers = up.requests[-1].headers
    assert headers["anthropic-beta"] == "feature-x"
    assert headers["anthropic-version"] == "2099-01-01"


async def test_embeddings_are_refused_without_a_request(up: FakeUpstream, make_client) -> None:
    with pytest.raises(ProviderBadRequest, match="Anthropic has no embeddings API"):
        await make_client("anthropic").embed(EmbeddingRequest(model="x", inputs=["a"]))
    assert up.requests == []


def test_bad_options_are_config_errors_with_their_paths() -> None:
    from agentrt.config import ProviderSection

    section = ProviderSection(kind="anthropic", options={"json_output": "prose", "max_tokens": 0})
    with pytest.raises(ConfigError) as caught:
        AnthropicClient("claude", section)
    paths = [p.path for p in caught.value.problems]
    assert paths == ["providers.claude.options.json_output", "providers.claude.options.max_tokens"]


async def test_check_lists_the_models(up: FakeUpstream, make_client) -> None:
    description = await make_client("anthropic").check()
    assert up.requests[-1].path == "/v1/models"
    assert "models available" in description
