"""Our provider clients against traffic recorded from the real APIs, replayed byte for byte.

The recordings (tests/fixtures/recorded, origins in SOURCES.md) are written by
the strict FakeUpstream in odd-sized pieces, so an event split anywhere must
still parse. Each test states what the recording holds, read off the file, and
checks that our client reads exactly that: text, tool calls and arguments,
usage, finish reason, and the reasoning a later turn must send back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from agentrt.testing import FakeUpstream, Recorded, Reply
from agentrt.testing._recorded import read_httprr
from agentrt.types import (
    ChatRequest,
    Message,
    ProviderResponse,
    RefusalDelta,
    StreamFinish,
    TextDelta,
    ToolCall,
    ToolSpec,
)

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded"
# Sizes that cut events, JSON strings and UTF-8 sequences in awkward places.
ODD_SIZES = [(1,), (7, 1, 13, 64, 3, 29), (4096,)]


def recorded(name: str, sizes: tuple[int, ...]) -> Recorded:
    return Recorded(RECORDED / name, chunk_sizes=sizes)


def recorded_sse(name: str, sizes: tuple[int, ...]) -> Recorded:
    """A recorded stream whose file was saved without the blank line that ends its last event.

    The API ends every event with a blank line; an SSE reader rightly drops an
    unterminated event at the end of the stream, so the file's last event
    (message_stop) gets back the line ending the API sent and the file lost.
    """
    body = (RECORDED / name).read_bytes()
    return Recorded(body.rstrip(b"\n") + b"\n\n", chunk_sizes=sizes)


async def stream_of(client: Any, request: ChatRequest) -> tuple[str, str, StreamFinish]:
    """The text and refusal deltas joined, and the one StreamFinish that must end the stream."""
    events = [event async for event in client.stream(request)]
    finishes = [e for e in events if isinstance(e, StreamFinish)]
    assert len(finishes) == 1, "a stream has exactly one StreamFinish"
    assert events[-1] is finishes[0], "a stream ends with its StreamFinish"
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    refusal = "".join(e.text for e in events if isinstance(e, RefusalDelta))
    return text, refusal, finishes[0]


def usage_of(finish: StreamFinish | ProviderResponse) -> tuple[int, int]:
    return finish.usage.input_tokens, finish.usage.output_tokens


# --- OpenAI: chat completion streams recorded by openai-python ---------------------------------------

GPT = ChatRequest(model="gpt-4o-2024-08-06", messages=[Message.user("What's the weather like in SF?")])


@pytest.mark.parametrize("sizes", ODD_SIZES)
async def test_openai_text_stream(up: FakeUpstream, make_client, sizes: tuple[int, ...]) -> None:
    up.script(recorded("openai/text_stream.sse", sizes))
    text, refusal, finish = await stream_of(make_client("openai"), GPT)
    assert text == (
        "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, "
        "I recommend checking a reliable weather website or a weather app."
    )
    assert refusal == ""
    assert finish.refusal is None
    assert finish.finish_reason == "stop"
    assert usage_of(finish) == (14, 30)
    assert finish.tool_calls == []


@pytest.mark.parametrize("sizes", ODD_SIZES)
async def test_openai_tool_call_stream(up: FakeUpstream, make_client, sizes: tuple[int, ...]) -> None:
    up.script(recorded("openai/tool_call_stream.sse", sizes))
    text, _, finish = await stream_of(make_client("openai"), GPT)
    assert text == ""
    assert finish.tool_calls == [ToolCall("call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", {"city": "New York City"})]
    assert finish.finish_reason == "tool_calls"
    assert usage_of(finish) == (44, 16)


async def test_openai_parallel_tool_calls_stream(up: FakeUpstream, make_client) -> None:
    up.script(recorded("openai/parallel_tool_calls_stream.sse", (5, 2, 11)))
    _, _, finish = await stream_of(make_client("openai"), GPT)
    assert finish.tool_calls == [
        ToolCall(
            "call_JMW1whyEaYG438VE1OIflxA2", "GetWeatherArgs", {"city": "Edinburgh", "country": "GB", "units": "c"}
        ),
        ToolCall("call_DNYTawLBoN8fj3KN6qU9N1Ou", "get_stock_price", {"ticker": "AAPL", "exchange": "NASDAQ"}),
    ]
    assert finish.finish_reason == "tool_calls"
    assert usage_of(finish) == (149, 60)


async def test_openai_refusal_stream(up: FakeUpstream, make_client) -> None:
    # The wire says finish_reason "stop" with the words in delta.refusal: agentrt reports a refusal.
    up.script(recorded("openai/refusal_stream.sse", (3, 17)))
    text, refusal, finish = await stream_of(make_client("openai"), GPT)
    assert text == ""
    assert refusal == "I'm sorry, I can't assist with that request."
    assert finish.refusal == "I'm sorry, I can't assist with that request."
    assert finish.finish_reason == "refusal"
    assert usage_of(finish) == (79, 11)


async def test_openai_stream_cut_by_the_output_limit(up: FakeUpstream, make_client) -> None:
    up.script(recorded("openai/length_stream.sse", (9,)))
    text, _, finish = await stream_of(make_client("openai"), GPT)
    assert text == '{"'
    assert finish.finish_reason == "length"
    assert usage_of(finish) == (79, 1)


# --- Anthropic: Messages streams from anthropic-sdk-python ---------------------------------------------

CLAUDE = ChatRequest(model="claude-sonnet-4-20250514", messages=[Message.user("What's the weather in Paris?")])


@pytest.mark.parametrize("sizes", ODD_SIZES)
async def test_anthropic_text_stream(up: FakeUpstream, make_client, sizes: tuple[int, ...]) -> None:
    up.script(recorded_sse("anthropic/text_stream.sse", sizes))
    text, _, finish = await stream_of(make_client("anthropic"), CLAUDE)
    assert text == "Hello there!"
    assert finish.finish_reason == "stop"
    assert usage_of(finish) == (11, 6)


@pytest.mark.parametrize("sizes", ODD_SIZES)
async def test_anthropic_tool_use_stream(up: FakeUpstream, make_client, sizes: tuple[int, ...]) -> None:
    up.script(recorded_sse("anthropic/tool_use_stream.sse", sizes))
    text, _, finish = await stream_of(make_client("anthropic"), CLAUDE)
    assert text == "I'll check the current weather in Paris for you."
    assert finish.tool_calls == [ToolCall("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})]
    assert finish.finish_reason == "tool_calls"
    assert usage_of(finish) == (377, 65)


async def test_anthropic_refusal_stream(up: FakeUpstream, make_client) -> None:
    up.script(recorded_sse("anthropic/refusal_stream.sse", (6, 1, 40)))
    text, _, finish = await stream_of(make_client("anthropic"), CLAUDE)
    assert text == ""
    assert finish.finish_reason == "refusal"
    assert usage_of(finish) == (20, 0)


async def test_anthropic_thinking_is_not_text(up: FakeUpstream, make_client) -> None:
    # A thinking block (with its signature), then text, then a refusal; the JSON lines carry trailing spaces.
    up.script(recorded("anthropic/thinking_refusal_stream.sse", (2, 33)))
    text, _, finish = await stream_of(make_client("anthropic"), CLAUDE)
    assert text == "Hi"
    assert finish.finish_reason == "refusal"
    assert usage_of(finish) == (28, 106)


async def test_anthropic_tool_call_cut_by_max_tokens_is_a_length_answer(up: FakeUpstream, make_client) -> None:
    # The tool call's JSON arguments stop mid-string when max_tokens is reached: an answer, not a retryable fault.
    up.script(recorded_sse("anthropic/tool_use_cut_by_max_tokens_stream.sse", (13, 5)))
    text, _, finish = await stream_of(make_client("anthropic"), CLAUDE)
    assert text == (
        "I'll create a comprehensive tax guide for someone with multiple W2s and save it in a file called "
        "taxes.txt. Let me do that for you now."
    )
    assert finish.finish_reason == "length"
    assert len(up.requests) == 1


# --- Gemini: httprr traces recorded live by google/adk-go ----------------------------------------------


def gemini_request(trace: str, exchange: int = 0) -> tuple[str, dict[str, Any]]:
    """The model and the body of a recorded request."""
    recording = read_httprr(RECORDED / "google" / trace)[exchange]
    model = recording.url.split("/models/")[1].split(":")[0]
    return model, orjson.loads(recording.request_body)


@pytest.mark.parametrize("sizes", ODD_SIZES)
async def test_gemini_text_stream(up: FakeUpstream, make_client, sizes: tuple[int, ...]) -> None:
    up.script(Recorded.from_httprr(RECORDED / "google/text_stream.httprr", chunk_sizes=sizes))
    request = ChatRequest(model="gemini-2.5-flash", messages=[Message.user("What is the capital of France?")])
    text, _, finish = await stream_of(make_client("google"), request)
    assert text == "Paris"
    assert finish.finish_reason == "stop"
    assert usage_of(finish) == (11, 1 + 33)  # thoughts are output tokens too


async def test_gemini_generate_body(up: FakeUpstream, make_client) -> None:
    # A pretty-printed JSON body, as Gemini sends it.
    up.script(Recorded.from_httprr(RECORDED / "google/text_generate.httprr", chunk_sizes=(5, 3)))
    request = ChatRequest(model="gemini-2.5-flash", messages=[Message.user("What is the capital of France?")])
    response = await make_client("google").complete(request)
    assert response.text == "Paris"
    assert response.finish_reason == "stop"
    assert usage_of(response) == (11, 1 + 34)


SUM = ToolSpec(
    name="sum",
    description="sums two integers",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
)
TRACE = "gemini3_function_calls_stream.httprr"


async def test_gemini3_function_calls_keep_their_signature_and_go_back_with_it(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    model, first_body = gemini_request(TRACE, 0)
    question = first_body["contents"][0]["parts"][0]["text"]
    up.script(Recorded.from_httprr(RECORDED / "google" / TRACE, 0, chunk_sizes=(11, 2, 97)))
    request = ChatRequest(model=model, messages=[Message.user(question)], tools=[SUM])
    _, _, finish = await stream_of(client, request)
    signature = gemini_request(TRACE, 1)[1]["contents"][1]["parts"][0]["thoughtSignature"]
    assert [(c.id, c.name, c.arguments) for c in finish.tool_calls] == [
        ("3ae8iwca", "sum", {"a": 2, "b": 3}),
        ("up3kf30e", "sum", {"a": 4, "b": 5}),
        ("ycroch25", "sum", {"a": 6, "b": 7}),
    ]
    assert finish.tool_calls[0].provider_data == {"thoughtSignature": signature}
    assert finish.finish_reason == "tool_calls"

    # The second turn, as the live client sent it: the strict fake accepts it only with the signature back.
    up.script(Recorded.from_httprr(RECORDED / "google" / TRACE, 1))
    results = [Message.tool(c.id, orjson.dumps({"sum": c.arguments["a"] + c.arguments["b"]}).decode(), name=c.name)
               for c in finish.tool_calls]
    follow_up = ChatRequest(
        model=model,
        messages=[Message.user(question), Message.assistant("", tool_calls=finish.tool_calls), *results],
        tools=[SUM],
    )
    text, _, last = await stream_of(client, follow_up)
    assert up.rejected == []
    sent = up.requests[-1].body["contents"][1]["parts"]
    assert sent[0]["thoughtSignature"] == signature
    assert last.finish_reason == "stop"
    assert text == "The sum of 2 and 3 is 5, the sum of 4 and 5 is 9, and the sum of 6 and 7 is 13."


# --- Signed reasoning, issued by the strict fake, must come back unchanged on the next turn -----------

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_thinking_goes_back_unchanged_in_a_tool_loop(
    up: FakeUpstream, make_client, stream: bool
) -> None:
    client = make_client("anthropic")
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    up.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})], thinking="Oslo: ask the tool."))
    up.script(Reply(text="Sunny"))
    first = ChatRequest(
        model="claude-sonnet-4-5", messages=[Message.user("Weather?")], tools=[WEATHER], max_output_tokens=2048,
        params=thinking,
    )
    if stream:
        _, _, answer = await stream_of(client, first)
        calls = answer.tool_calls
    else:
        calls = (await client.complete(first)).tool_calls
    assert [(c.name, c.arguments) for c in calls] == [("get_weather", {"city": "Oslo"})]
    follow_up = ChatRequest(
        model="claude-sonnet-4-5",
        messages=[*first.messages, Message.assistant("", tool_calls=calls), Message.tool(calls[0].id, "sunny")],
        tools=[WEATHER],
        max_output_tokens=2048,
        params=thinking,
    )
    response = await client.complete(follow_up)
    assert up.rejected == []
    assert response.text == "Sunny"
    assert up.requests[-1].body["messages"][1]["content"][0]["thinking"] == "Oslo: ask the tool."


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini3_signature_goes_back_unchanged_in_a_tool_loop(
    up: FakeUpstream, make_client, stream: bool
) -> None:
    client = make_client("google")
    up.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]))
    up.script(Reply(text="Sunny in both"))
    first = ChatRequest(model="gemini-3-pro-preview", messages=[Message.user("Weather?")], tools=[WEATHER])
    if stream:
        _, _, answer = await stream_of(client, first)
        calls = answer.tool_calls
    else:
        calls = (await client.complete(first)).tool_calls
    assert calls[0].provider_data is not None
    assert "thoughtSignature" in calls[0].provider_data
    results = [Message.tool(c.id, "sunny", name=c.name) for c in calls]
    follow_up = ChatRequest(
        model="gemini-3-pro-preview",
        messages=[*first.messages, Message.assistant("", tool_calls=calls), *results],
        tools=[WEATHER],
    )
    response = await client.complete(follow_up)
    assert up.rejected == []
    assert response.text == "Sunny in both"
