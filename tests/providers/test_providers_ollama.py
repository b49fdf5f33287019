"""The ollama kind against the strict FakeUpstream: /api/chat (NDJSON streams), tools, images, usage from
prompt_eval_count / eval_count, /api/embed, /api/tags, and Ollama's {"error": ...} bodies."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from providers_cloud_support import get_weather, provider_section, runtime_config

from agentrt import Runtime
from agentrt.config import ProviderSection
from agentrt.errors import ContextLengthExceeded, ProviderBadRequest, ProviderUnavailable
from agentrt.providers import builtin_kinds
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import (
    ChatRequest,
    Completed,
    EmbeddingRequest,
    ImagePart,
    Message,
    ResponseFormat,
    StreamFinish,
    TextDelta,
    TextPart,
)

_OPEN: list[Any] = []


@pytest.fixture
async def up() -> Any:
    async with FakeUpstream() as upstream:
        yield upstream
    while _OPEN:
        await _OPEN.pop().aclose()


def client(up: FakeUpstream, **fields: Any) -> Any:
    made = builtin_kinds()["ollama"]("ol", ProviderSection.model_validate(provider_section("ollama", up, **fields)))
    _OPEN.append(made)
    return made


async def test_ollama_generate_and_stream(up: FakeUpstream) -> None:
    up.script(Reply(text="hello", usage=(26, 5)), Reply(text="streamed words", usage=(8, 4), chunk_size=4))
    async with Runtime.open(runtime_config("ollama", up, "llama3.2"), plugins=False) as rt:
        completion = await rt.generate("m", "hi", max_output_tokens=40, temperature=0.1)
        events = [e async for e in rt.stream("m", "hi")]
    assert completion.text == "hello"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (26, 5)
    plain, stream = up.requests
    assert plain.path == "/api/chat"
    assert plain.body["stream"] is False
    assert plain.body["options"] == {"num_predict": 40, "temperature": 0.1}
    assert plain.rejection is None
    assert stream.body["stream"] is True
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "streamed words"
    done = next(e for e in events if isinstance(e, Completed))
    assert (done.completion.usage.input_tokens, done.completion.usage.output_tokens) == (8, 4)


async def test_ollama_tool_loop_names_the_tool_in_results(up: FakeUpstream) -> None:
    up.script(Reply(tool_calls=[("get_weather", {"city": "Lima"})]), Reply(text="Sunny in Lima."))
    async with Runtime.open(runtime_config("ollama", up, "qwen3"), plugins=False) as rt:
        completion = await rt.generate("m", "weather?", tools=[get_weather])
    assert completion.text == "Sunny in Lima."
    assert up.rejected == []
    messages = up.requests[1].body["messages"]
    assert messages[1]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": {"city": "Lima"}}}]
    assert messages[2] == {"role": "tool", "content": "sunny in Lima", "tool_name": "get_weather"}


async def test_ollama_stream_tool_call(up: FakeUpstream) -> None:
    up.script(Reply(tool_calls=[("get_weather", {"city": "Quito"})]))
    ollama = client(up)
    events = [e async for e in ollama.stream(ChatRequest(model="qwen3", messages=[Message.user("hi")]))]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "tool_calls"
    assert finish.tool_calls[0].arguments == {"city": "Quito"}


async def test_ollama_images_json_format_and_params(up: FakeUpstream) -> None:
    ollama = client(up)
    image = ImagePart(data=b"\x89PNG fake", media_type="image/png")
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    request = ChatRequest(
        model="llava",
        messages=[Message.user([TextPart("what?"), image])],
        response_format=ResponseFormat(schema=schema),
        params={"num_ctx": 8192, "keep_alive": "5m", "seed": 3},
    )
    await ollama.complete(request)
    body = up.requests[0].body
    assert up.requests[0].rejection is None
    assert body["messages"][0]["images"] == [base64.b64encode(b"\x89PNG fake").decode()]
    assert body["format"] == schema
    assert body["options"] == {"num_ctx": 8192, "seed": 3}
    assert body["keep_alive"] == "5m"
    with pytest.raises(ProviderBadRequest, match="not by URL"):
        await ollama.complete(
            ChatRequest(model="llava", messages=[Message.user([ImagePart(url="https://example.com/x.png")])])
        )


async def test_ollama_embed_and_check(up: FakeUpstream) -> None:
    up.script(Reply(usage=(6, 0)))
    ollama = client(up)
    result = await ollama.embed(EmbeddingRequest(model="nomic-embed-text", inputs=["a", "b"]))
    assert len(result.vectors) == 2
    assert result.usage.input_tokens == 6
    assert up.requests[0].path == "/api/embed"
    assert "models available" in await ollama.check()


async def test_ollama_errors(up: FakeUpstream) -> None:
    ollama = client(up)
    request = ChatRequest(model="llama3.2", messages=[Message.user("hi")])
    up.script(Fault(status=404, message="model 'llama3.2' not found"))
    with pytest.raises(ProviderBadRequest, match="not found"):
        await ollama.complete(request)
    up.script(Fault(error_code="context_length_exceeded"))
    with pytest.raises(ContextLengthExceeded):
        await ollama.complete(request)
    up.script(Fault(cut_stream_after=1))
    with pytest.raises(ProviderUnavailable):
        _ = [e async for e in ollama.stream(request)]
    up.script(Fault(malformed=True))
    with pytest.raises(ProviderUnavailable, match="malformed"):
        _ = [e async for e in ollama.stream(request)]


def test_ollama_default_base_url() -> None:
    made = builtin_kinds()["ollama"]("ol", ProviderSection(kind="ollama"))
    assert "http://127.0.0.1:11434" in repr(made)


async def test_fake_refuses_fields_ollama_does_not_document(up: FakeUpstream) -> None:
    ollama = client(up, options={"drop_params": False})
    with pytest.raises(ProviderBadRequest):  # our own guard refuses an OpenAI-only name before sending
        await ollama.complete(ChatRequest(model="m", messages=[Message.user("hi")], params={"logit_bias": {}}))
    import aiohttp

    async with aiohttp.ClientSession() as session:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "stream": False}
        async with session.post(up.ollama_base_url + "/api/chat", json=body) as answer:
            assert answer.status == 400
            assert "max_tokens" in (await answer.json())["error"]


@pytest.mark.parametrize("size", [1, 7, 64])
async def test_ollama_stream_lines_split_anywhere(canned: Any, size: int) -> None:
    import orjson

    state, url = canned
    lines = [
        {"model": "m", "message": {"role": "assistant", "content": "Hel"}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": "lo"}, "done": False},
        {
            "model": "m",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length",
            "prompt_eval_count": 9,
            "eval_count": 2,
        },
    ]
    body = b"".join(orjson.dumps(line) + b"\n" for line in lines).rstrip(b"\n")  # the last line without its newline
    state.pieces = [body[i : i + size] for i in range(0, len(body), size)]
    state.content_type = "application/x-ndjson"
    ollama = builtin_kinds()["ollama"]("ol", ProviderSection(kind="ollama", base_url=url))
    events = [e async for e in ollama.stream(ChatRequest(model="m", messages=[Message.user("hi")]))]
    await ollama.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "length"
    assert (finish.usage.input_tokens, finish.usage.output_tokens) == (9, 2)
