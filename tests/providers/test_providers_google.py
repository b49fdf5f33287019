"""The Gemini client against the FakeUpstream over loopback HTTP: what it sends, what it reads."""

from __future__ import annotations

import base64
import math

import pytest
from providers_support import WEATHER, Invoice

from agentrt.errors import ProviderBadRequest
from agentrt.providers import GoogleClient
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
    return ChatRequest(model="gemini-2.5-flash", messages=list(messages), **fields)  # type: ignore[arg-type]


async def test_complete_sends_contents_and_system_instruction_and_reads_the_answer(
    up: FakeUpstream, make_client, api_key: str
) -> None:
    client: GoogleClient = make_client("google")
    up.script(Reply(text="Hello there", usage=(12, 3), cached_tokens=4))
    response = await client.complete(
        chat(
            Message.system("Be brief."),
            Message.user("Hi"),
            Message.assistant("Hello!"),
            Message.user("Again"),
            max_output_tokens=64,
            temperature=0.3,
            top_p=0.8,
            stop=["END"],
        )
    )
    assert response.text == "Hello there"
    assert response.finish_reason == "stop"
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.cached_tokens) == (12, 3, 4)
    assert response.model == "gemini-2.5-flash"
    sent = up.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == api_key
    assert "key" not in sent.query  # the key never travels in the URL
    assert sent.body == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Again"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.3, "topP": 0.8, "stopSequences": ["END"]},
    }


async def test_stream_uses_alt_sse_and_yields_deltas_then_one_finish(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    up.script(Reply(text="one two three four five", chunk_size=4, usage=(5, 6)))
    events = [event async for event in client.stream(chat(Message.user("count")))]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == "one two three four five"
    assert sum(isinstance(e, StreamFinish) for e in events) == 1
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "stop"
    assert (finish.usage.input_tokens, finish.usage.output_tokens) == (5, 6)
    sent = up.requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.query == {"alt": "sse"}


async def test_function_calls_become_tool_calls_with_synthesised_ids(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]))
    response = await client.complete(chat(Message.user("weather?"), tools=[WEATHER], tool_choice="get_weather"))
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    ids = [c.id for c in response.tool_calls]
    assert len(set(ids)) == 2
    assert all(i.startswith("gemini_call_") for i in ids)
    assert response.finish_reason == "tool_calls"  # Gemini says STOP
    body = up.requests[-1].body
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": WEATHER.description, "parametersJsonSchema": WEATHER.parameters}
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


@pytest.mark.parametrize(("choice", "mode"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
async def test_tool_choices_map_to_function_calling_modes(
    up: FakeUpstream, make_client, choice: str, mode: str
) -> None:
    await make_client("google").complete(chat(Message.user("x"), tools=[WEATHER], tool_choice=choice))
    assert up.requests[-1].body["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


async def test_streamed_function_calls_arrive_whole(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})]))
    events = [event async for event in client.stream(chat(Message.user("weather?"), tools=[WEATHER]))]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(d.index, d.name, d.arguments) for d in deltas] == [
        (0, "get_weather", '{"city":"Paris"}'),
        (1, "get_weather", '{"city":"Oslo"}'),
    ]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "tool_calls"
    assert [(c.id, c.arguments) for c in finish.tool_calls] == [
        (deltas[0].id, {"city": "Paris"}),
        (deltas[1].id, {"city": "Oslo"}),
    ]


async def test_tool_results_are_function_responses_named_after_their_calls(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    # The strict fake takes back only signatures it issued: get one from a Gemini 3 answer.
    up.script(Reply(tool_calls=[("get_time", {})]))
    first = await client.complete(ChatRequest(model="gemini-3-pro-preview", messages=[Message.user("time?")]))
    signature = (first.tool_calls[0].provider_data or {})["thoughtSignature"]
    calls = [
        ToolCall(id="gemini_call_0_abc", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="real-id-7", name="get_time", arguments={}, provider_data={"thoughtSignature": signature}),
    ]
    await client.complete(
        chat(
            Message.user("weather and time?"),
            Message.assistant("", calls),
            Message.tool("gemini_call_0_abc", '{"sky": "clear"}'),  # the name is found from the call
            Message.tool("real-id-7", "12:00", name="get_time"),
            tools=[WEATHER],
        )
    )
    contents = up.requests[-1].body["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}, "id": "real-id-7"}, "thoughtSignature": signature},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"sky": "clear"}}},
            {"functionResponse": {"name": "get_time", "response": {"output": "12:00"}, "id": "real-id-7"}},
        ],
    }


async def test_a_tool_result_whose_name_cannot_be_found_is_refused_before_sending(
    up: FakeUpstream, make_client
) -> None:
    with pytest.raises(ProviderBadRequest, match=r"name=\.\.\."):
        await make_client("google").complete(chat(Message.user("x"), Message.tool("unknown", "result")))
    assert up.requests == []


async def test_json_schema_is_response_json_schema_and_the_answer_validates(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    schema = Invoice.model_json_schema()
    response = await client.complete(chat(Message.user("invoice?"), response_format=ResponseFormat(schema=schema)))
    config = up.requests[-1].body["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    Invoice.model_validate_json(response.text)


async def test_images_are_inline_data_or_file_data(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    jpeg = b"\xff\xd8\xff"
    content = [
        TextPart("Describe"),
        ImagePart(data=jpeg, media_type="image/jpeg"),
        ImagePart(url="https://example.com/cat.png"),
    ]
    await client.complete(chat(Message.user(content)))
    assert up.requests[-1].body["contents"][0]["parts"] == [
        {"text": "Describe"},
        {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(jpeg).decode()}},
        {"fileData": {"fileUri": "https://example.com/cat.png", "mimeType": "image/png"}},
    ]


async def test_params_go_to_generation_config_except_request_fields(up: FakeUpstream, make_client) -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    params = {
        "topK": 40,
        "thinkingConfig": {"thinkingBudget": 0},
        "safetySettings": safety,
        "cachedContent": "cachedContents/abc",
        "labels": {"team": "a"},
        "generationConfig": {"seed": 3},
        "tools": [{"googleSearch": {}}],
    }
    await make_client("google").complete(chat(Message.user("x"), tools=[WEATHER], temperature=0.5, params=params))
    body = up.requests[-1].body
    assert body["generationConfig"] == {
        "temperature": 0.5,
        "topK": 40,
        "thinkingConfig": {"thinkingBudget": 0},
        "seed": 3,
    }
    assert body["safetySettings"] == safety
    assert body["cachedContent"] == "cachedContents/abc"
    assert body["labels"] == {"team": "a"}
    assert body["tools"][-1] == {"googleSearch": {}}
    assert "functionDeclarations" in body["tools"][0]


async def test_embeddings_use_batch_embed_contents(up: FakeUpstream, make_client) -> None:
    client = make_client("google")
    result = await client.embed(
        EmbeddingRequest(
            model="gemini-embedding-001", inputs=["alpha", "beta", "alpha"], params={"taskType": "RETRIEVAL_DOCUMENT"}
        )
    )
    assert len(result.vectors) == 3
    assert all(len(v) == 8 for v in result.vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, rel_tol=1e-5) for v in result.vectors)
    assert result.vectors[0] == result.vectors[2] != result.vectors[1]
    assert result.usage.input_tokens == 2 + 1 + 2  # estimated: a token per four characters, rounded up
    sent = up.requests[-1]
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.body["requests"][1] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "beta"}]},
        "taskType": "RETRIEVAL_DOCUMENT",
    }


async def test_check_lists_the_models(up: FakeUpstream, make_client) -> None:
    description = await make_client("google").check()
    assert up.requests[-1].path == "/v1beta/models"
    assert "models available" in description
