"""The offline ``local`` provider: echoes, rules, a tool call then its answer, schema samples, embeddings."""

from __future__ import annotations

import math
from datetime import date
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from agentrt.config import ProviderSection
from agentrt.errors import ConfigError, RuntimeStateError
from agentrt.providers import LocalClient
from agentrt.types import (
    ChatRequest,
    EmbeddingRequest,
    Message,
    ResponseFormat,
    StreamFinish,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
)

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
RULES = [
    {"match": "(?i)weather in (\\w+)", "tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}},
    {"match": "(?i)time", "tool_call": {"name": "get_time"}, "reply": "It is noon."},
    {"match": "(?i)^hello", "reply": "Hello! How can I help?"},
    {"match": "(?i)hello", "reply": "hello, said anywhere"},
    {"match": "invoice", "reply": '{"number": "A-7", "total": 3.5, "paid": false, "lines": []}'},
]


def local(**options: object) -> LocalClient:
    return LocalClient("offline", ProviderSection(kind="local", options=options))


def chat(*messages: Message, **fields: object) -> ChatRequest:
    return ChatRequest(model="local-model", messages=list(messages), **fields)  # type: ignore[arg-type]


class Line(BaseModel):
    sku: str
    quantity: int = Field(ge=1)


class Invoice(BaseModel):
    number: str
    total: float
    paid: bool
    status: Literal["draft", "sent"]
    issued: date
    lines: list[Line]
    note: str | None


async def test_by_default_it_echoes_the_last_user_message_with_usage() -> None:
    response = await local().complete(
        chat(Message.system("sys"), Message.user("first"), Message.assistant("ok"), Message.user("second message"))
    )
    assert response.text == "echo: second message"
    assert response.finish_reason == "stop"
    assert response.model == "local-model"
    assert response.usage.input_tokens == math.ceil(len("sys" + "first" + "ok" + "second message") / 4)
    assert response.usage.output_tokens == math.ceil(len("echo: second message") / 4)


async def test_the_first_matching_rule_replies() -> None:
    client = local(rules=RULES)
    assert (await client.complete(chat(Message.user("hello there")))).text == "Hello! How can I help?"
    assert (await client.complete(chat(Message.user("say Hello")))).text == "hello, said anywhere"
    assert (await client.complete(chat(Message.user("nothing matches")))).text == "echo: nothing matches"


async def test_a_tool_call_rule_asks_for_the_tool_then_answers_with_its_result() -> None:
    client = local(rules=RULES)
    first = await client.complete(chat(Message.user("weather in Paris?"), tools=[WEATHER]))
    assert first.finish_reason == "tool_calls"
    assert first.text == ""
    [call] = first.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    second = await client.complete(
        chat(
            Message.user("weather in Paris?"),
            Message.assistant("", first.tool_calls),
            Message.tool(call.id, "sunny, 21°C", name="get_weather"),
            tools=[WEATHER],
        )
    )
    assert second.tool_calls == []
    assert second.text == "get_weather returned: sunny, 21°C"
    # A new user turn starts over: the tool is asked for again, with a new id.
    third = await client.complete(
        chat(
            Message.user("weather in Paris?"),
            Message.assistant("", first.tool_calls),
            Message.tool(call.id, "sunny", name="get_weather"),
            Message.assistant("sunny"),
            Message.user("and the weather in Oslo?"),
            tools=[WEATHER],
        )
    )
    assert [c.name for c in third.tool_calls] == ["get_weather"]
    assert third.tool_calls[0].id != call.id


async def test_after_the_tool_result_a_rule_with_a_reply_answers_it() -> None:
    time_tool = ToolSpec("get_time", "now", {"type": "object"})
    client = local(rules=RULES)
    first = await client.complete(chat(Message.user("what time is it"), tools=[time_tool]))
    [call] = first.tool_calls
    second = await client.complete(
        chat(
            Message.user("what time is it"),
            Message.assistant("", [call]),
            Message.tool(call.id, "12:00"),
            tools=[time_tool],
        )
    )
    assert second.text == "It is noon."


async def test_a_tool_call_rule_for_a_tool_not_offered_lets_the_next_rule_answer() -> None:
    response = await local(rules=RULES).complete(chat(Message.user("weather in Paris?")))
    assert response.tool_calls == []
    assert response.text == "echo: weather in Paris?"


async def test_with_a_schema_it_answers_a_valid_object() -> None:
    schema = Invoice.model_json_schema()
    response = await local().complete(
        chat(Message.user("make an invoice"), response_format=ResponseFormat(schema=schema))
    )
    invoice = Invoice.model_validate_json(response.text)
    assert invoice.lines
    assert invoice.lines[0].quantity >= 1


async def test_a_rule_reply_that_is_json_wins_over_the_sample() -> None:
    class Small(BaseModel):
        number: str

    response = await local(rules=RULES).complete(
        chat(Message.user("invoice please"), response_format=ResponseFormat(schema=Small.model_json_schema()))
    )
    assert Small.model_validate_json(response.text).number == "A-7"


async def test_json_without_a_schema_is_an_object_with_the_echo() -> None:
    response = await local().complete(chat(Message.user("hi"), response_format=ResponseFormat()))
    assert response.text == '{"text":"echo: hi"}'


async def test_streaming_gives_word_deltas_then_one_finish() -> None:
    events = [e async for e in local(latency="1ms").stream(chat(Message.user("one  two three")))]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas == ["echo: ", "one  ", "two ", "three"]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert sum(isinstance(e, StreamFinish) for e in events) == 1
    assert finish.usage.output_tokens == math.ceil(len("echo: one  two three") / 4)


async def test_streaming_a_tool_call() -> None:
    events = [e async for e in local(rules=RULES).stream(chat(Message.user("weather in Rome"), tools=[WEATHER]))]
    [delta] = [e for e in events if isinstance(e, ToolCallDelta)]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "tool_calls"
    assert (delta.id, delta.name, delta.arguments) == (finish.tool_calls[0].id, "get_weather", '{"city":"Paris"}')


async def test_the_same_conversation_gets_the_same_answer() -> None:
    request = chat(Message.user("weather in Paris"), tools=[WEATHER])
    a, b = await local(rules=RULES).complete(request), await local(rules=RULES).complete(request)
    assert (a.text, a.tool_calls, a.usage) == (b.text, b.tool_calls, b.usage)


async def test_embeddings_are_deterministic_unit_vectors() -> None:
    client = local(embedding_dim=32)
    first = await client.embed(EmbeddingRequest(model="e", inputs=["alpha", "beta", "alpha"]))
    again = await local(embedding_dim=32).embed(EmbeddingRequest(model="e", inputs=["alpha"]))
    assert [len(v) for v in first.vectors] == [32, 32, 32]
    assert all(math.isclose(sum(x * x for x in v), 1.0) for v in first.vectors)
    assert first.vectors[0] == first.vectors[2] == again.vectors[0] != first.vectors[1]
    assert first.usage.input_tokens == 2 + 1 + 2
    assert len((await local().embed(EmbeddingRequest(model="e", inputs=["x"]))).vectors[0]) == 8


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"rules": [{"match": "("}]}, "providers.offline.options.rules[0].match"),
        ({"rules": [{"match": "x"}]}, "providers.offline.options.rules[0]"),
        (
            {"rules": [{"match": "x", "tool_call": {"arguments": {}}}]},
            "providers.offline.options.rules[0].tool_call.name",
        ),
        ({"latency": "soon"}, "providers.offline.options.latency"),
        ({"embedding_dim": 0}, "providers.offline.options.embedding_dim"),
        ({"replies": []}, "providers.offline.options.replies"),
    ],
)
def test_bad_options_are_config_errors_with_their_paths(options: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        local(**options)
    assert [p.path for p in caught.value.problems] == [path]


async def test_check_and_close() -> None:
    client = local(rules=RULES)
    assert await client.check() == "offline and deterministic, 5 rules"
    await client.aclose()
    await client.aclose()
    with pytest.raises(RuntimeStateError, match="closed"):
        await client.complete(chat(Message.user("x")))
