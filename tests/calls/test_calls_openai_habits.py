"""Callers who know OpenAI's API: its output-size names, its message dicts, its response_format, stream=True."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from calls_support import RecordingPolicy, open_runtime
from pydantic import BaseModel

from agentrt.calls import PolicyHook, to_messages
from agentrt.testing import FakeUpstream, Reply
from agentrt.types import Completed, ImagePart, Message, ResponseFormat, TextPart, ToolCall

# --- max_tokens / max_completion_tokens are max_output_tokens -------------------------


@pytest.mark.parametrize("alias", ["max_tokens", "max_completion_tokens", "max_output_tokens"])
async def test_output_size_aliases_set_the_hold_and_the_provider_gets_one_field(
    up: FakeUpstream, tmp_path: Path, alias: str
) -> None:
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        await rt.generate("primary", "hi", **{alias: 50})
        await rt.generate("primary", "hi", params={alias: 60})
        [_ async for _ in rt.stream("primary", "hi", **{alias: 70})]
    assert [(a.max_output_tokens, a.output_limited) for a in policy.admitted] == [(50, True), (60, True), (70, True)]
    for request, expected in zip(up.requests, (50, 60, 70), strict=True):
        limits = {k: v for k, v in request.body.items() if k in ("max_tokens", "max_completion_tokens")}
        assert limits == {"max_completion_tokens": expected}  # OpenAI's own field, once


async def test_two_different_output_sizes_are_refused_naming_both(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ValueError, match=r"max_output_tokens=50, max_tokens=60") as caught:
            await rt.generate("primary", "hi", max_output_tokens=50, max_tokens=60)
        assert "aliases" in str(caught.value)
        with pytest.raises(ValueError, match="max_tokens"):
            await rt.generate("primary", "hi", params={"max_tokens": 10, "max_completion_tokens": 20})
        await rt.generate("primary", "hi", max_output_tokens=50, max_tokens=50)  # the same value twice is fine
    assert len(up.requests) == 1


async def test_the_tool_loop_and_generate_object_take_the_aliases_too(up: FakeUpstream, tmp_path: Path) -> None:
    class Answer(BaseModel):
        value: int

    policy = RecordingPolicy()
    up.script(Reply(tool_calls=[("add", {"a": 1, "b": 2})]), Reply(text="3"), Reply(text='{"value": 3}'))

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        await rt.generate("primary", "1+2?", tools=[add], max_tokens=40)
        await rt.generate_object("primary", "1+2?", schema=Answer, max_completion_tokens=30)
    assert [a.max_output_tokens for a in policy.admitted] == [40, 40, 30]


# --- stream=True on generate ----------------------------------------------------------


async def test_stream_true_on_generate_says_to_use_rt_stream(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ValueError, match=r"rt\.stream\("):
            await rt.generate("primary", "hi", stream=True)
        events = [e async for e in rt.stream("primary", "hi", stream=True)]  # harmless where it is true
    assert isinstance(events[-1], Completed)
    assert len(up.requests) == 1


# --- response_format as OpenAI writes it ----------------------------------------------


async def test_response_format_dicts_and_model_classes_are_understood(up: FakeUpstream, tmp_path: Path) -> None:
    class City(BaseModel):
        name: str

    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    schema["additionalProperties"] = False
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("primary", "json please", response_format={"type": "json_object"})
        await rt.generate(
            "primary",
            "a city",
            response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
        )
        await rt.generate("primary", "a city", response_format=City)
        await rt.generate("primary", "a city", params={"response_format": {"type": "json_object"}})
        await rt.generate("primary", "a city", response_format=ResponseFormat(schema, name="c"))
    formats = [r.body["response_format"] for r in up.requests]
    assert formats[0] == {"type": "json_object"}
    assert formats[1]["json_schema"] == {"name": "city", "schema": schema, "strict": True}
    assert formats[2]["json_schema"]["schema"]["additionalProperties"] is False
    assert formats[2]["json_schema"]["name"] == "City"
    assert formats[3] == {"type": "json_object"}
    assert formats[4]["json_schema"]["name"] == "c"


async def test_a_response_format_that_cannot_be_read_says_what_to_write(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ValueError, match="json_schema"):
            await rt.generate("primary", "hi", response_format={"type": "json_schema"})
        with pytest.raises(ValueError, match="'xml' is not known"):
            await rt.generate("primary", "hi", response_format={"type": "xml"})
        with pytest.raises(TypeError, match="response_format must be"):
            await rt.generate("primary", "hi", response_format="json")
    assert up.requests == []


# --- OpenAI message dicts ---------------------------------------------------------------


async def test_openai_message_dicts_are_a_prompt(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text="Paris"))
    async with open_runtime(up, tmp_path) as rt:
        c = await rt.generate(
            "primary",
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "capital of France?"}],
        )
    assert c.text == "Paris"
    assert up.requests[-1].body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "capital of France?"},
    ]


def test_every_openai_message_shape_becomes_the_same_message() -> None:
    png = b"\x89PNG\r\n\x1a\n"
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    messages = to_messages(
        [
            {"role": "developer", "content": [{"type": "text", "text": "rules"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": data_url}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"x": 1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            Message.user("thanks"),
        ]
    )
    assert messages == [
        Message("system", "rules"),
        Message(
            "user",
            [
                TextPart("what is this?"),
                ImagePart(url="https://example.com/a.png", detail="low"),  # OpenAI's detail is kept
                ImagePart(data=png, media_type="image/png"),
            ],
        ),
        Message.assistant("", [ToolCall("call_1", "look", {"x": 1})]),
        Message.tool("call_1", "a cat", name="look"),  # the name found from the call it answers
        Message.user("thanks"),
    ]
    assert to_messages({"role": "user", "content": "hi"}) == [Message.user("hi")]
    refused = {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't"}]}
    assert to_messages([refused]) == [Message.assistant("I can't")]


@pytest.mark.parametrize(
    ("prompt", "error", "match"),
    [
        ([{"role": "robot", "content": "hi"}], ValueError, r"prompt\[0\] has role 'robot'.*'user'"),
        ([{"role": "user", "content": 3}], TypeError, r"prompt\[0\]\.content is a int"),
        ([{"role": "tool", "content": "x"}], ValueError, r"prompt\[0\] is a tool result without 'tool_call_id'"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "audio"}]}],
            ValueError,
            r"prompt\[1\]\.content\[0\] is not a part",
        ),
        (
            [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}],
            ValueError,
            r"prompt\[0\]\.tool_calls\[0\]\.function\.arguments is not valid JSON",
        ),
        ([{"role": "user", "content": "a"}, 7], TypeError, r"prompt\[1\] is a int"),
        ([{"role": "function", "content": "x"}], ValueError, "write {'role': 'tool'"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x", "detail": "max"}}]}],
            ValueError,
            r"prompt\[0\]\.content\[0\] has image_url\.detail 'max'",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}]}],
            ValueError,
            "base64",
        ),
    ],
)
def test_a_bad_message_is_refused_naming_where_and_what_to_write(
    prompt: list[object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        to_messages(prompt)  # type: ignore[arg-type]
