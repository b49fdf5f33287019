"""The bedrock kind through rt.generate / rt.stream and its client, against the strict FakeUpstream:
SigV4-signed Converse bodies that botocore's service model accepts, tool loops, images, event streams
and Bedrock's errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from providers_cloud_support import get_weather, provider_section, runtime_config

from agentrt import Runtime
from agentrt.config import ProviderSection
from agentrt.errors import (
    ConfigError,
    ContextLengthExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderUnavailable,
)
from agentrt.providers import builtin_kinds
from agentrt.providers._eventstream import encode_message
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.testing._bedrock import exception_frame
from agentrt.types import ChatRequest, Completed, ImagePart, Message, StreamFinish, TextDelta, TextPart

MODEL_ID = "anthropic.claude-3-5-haiku-20241022-v1:0"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


_OPEN: list[Any] = []


@pytest.fixture
async def up() -> Any:
    async with FakeUpstream() as upstream:
        yield upstream
    while _OPEN:  # clients a failed test left open
        await _OPEN.pop().aclose()


def client(up: FakeUpstream, **fields: Any) -> Any:
    section = ProviderSection.model_validate(provider_section("bedrock", up, **fields))
    made = builtin_kinds()["bedrock"]("bedrock", section)
    _OPEN.append(made)
    return made


async def test_bedrock_generate_sends_a_signed_converse_body(up: FakeUpstream) -> None:
    up.script(Reply(text="Hello there", usage=(12, 3)))
    async with Runtime.open(runtime_config("bedrock", up, MODEL_ID), plugins=False) as rt:
        completion = await rt.generate("m", "hello", system="be brief", max_output_tokens=50, temperature=0.2)
    assert completion.text == "Hello there"
    assert completion.finish_reason == "stop"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 3)
    (request,) = up.requests
    assert request.rejection is None  # botocore's model accepted it and the signature verified
    assert request.path == f"/model/{MODEL_ID}/converse"
    assert request.body["system"] == [{"text": "be brief"}]
    assert request.body["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2}
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "hello"}]}]
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFAKEUPSTREAM0001/")
    assert "/us-east-1/bedrock/aws4_request" in request.headers["authorization"]


async def test_bedrock_stream_reads_the_event_stream(up: FakeUpstream) -> None:
    up.script(Reply(text="a streamed answer", usage=(5, 4), chunk_size=3))
    async with Runtime.open(runtime_config("bedrock", up, MODEL_ID), plugins=False) as rt:
        events = [event async for event in rt.stream("m", "hello")]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3
    assert "".join(deltas) == "a streamed answer"
    (done,) = [e for e in events if isinstance(e, Completed)]
    assert done.completion.text == "a streamed answer"
    assert (done.completion.usage.input_tokens, done.completion.usage.output_tokens) == (5, 4)
    assert up.requests[0].path.endswith("/converse-stream")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_bedrock_tool_loop_sends_tool_use_and_tool_result_back(up: FakeUpstream, stream: bool) -> None:
    up.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text="It is sunny in Paris."))
    async with Runtime.open(runtime_config("bedrock", up, MODEL_ID), plugins=False) as rt:
        if stream:
            events = [e async for e in rt.stream("m", "weather in Paris?", tools=[get_weather])]
            completion = next(e.completion for e in events if isinstance(e, Completed))
        else:
            completion = await rt.generate("m", "weather in Paris?", tools=[get_weather])
    assert completion.text == "It is sunny in Paris."
    assert up.rejected == []
    first, second = up.requests
    assert first.body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assistant, result = second.body["messages"][1:]
    (use,) = assistant["content"]
    assert use["toolUse"]["name"] == "get_weather"
    assert use["toolUse"]["input"] == {"city": "Paris"}
    assert result["role"] == "user"
    assert result["content"][0]["toolResult"]["toolUseId"] == use["toolUse"]["toolUseId"]
    assert result["content"][0]["toolResult"]["content"] == [{"text": "sunny in Paris"}]


async def test_bedrock_sends_images_as_bytes_and_refuses_urls(up: FakeUpstream) -> None:
    bedrock = client(up)
    image = ImagePart(data=PNG, media_type="image/png")
    request = ChatRequest(model=MODEL_ID, messages=[Message.user([TextPart("what is this?"), image])])
    await bedrock.complete(request)
    blocks = up.requests[0].body["messages"][0]["content"]
    assert blocks[1] == {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}}
    remote = ChatRequest(model=MODEL_ID, messages=[Message.user([ImagePart(url="https://example.com/a.png")])])
    with pytest.raises(ProviderBadRequest, match="bytes only"):
        await bedrock.complete(remote)
    await bedrock.aclose()


async def test_bedrock_errors_map_to_our_classes(up: FakeUpstream) -> None:
    bedrock = client(up)
    request = ChatRequest(model=MODEL_ID, messages=[Message.user("hi")])
    up.script(Fault(status=429, retry_after=2, message="Too many requests, please wait before trying again."))
    with pytest.raises(ProviderRateLimited) as limited:
        await bedrock.complete(request)
    assert limited.value.retry_after == 2
    up.script(Fault(error_code="context_length_exceeded"))
    with pytest.raises(ContextLengthExceeded):
        await bedrock.complete(request)
    up.script(Fault(status=503))
    with pytest.raises(ProviderUnavailable):
        await bedrock.complete(request)
    up.script(Fault(status=424, message="The model failed to process the request."), Fault(status=424))
    with pytest.raises(ProviderUnavailable, match="ModelErrorException"):  # retryable, unlike other 4xx
        await bedrock.complete(request)
    with pytest.raises(ProviderUnavailable, match="ModelErrorException"):
        _ = [e async for e in bedrock.stream(request)]
    await bedrock.aclose()
    assert up.requests[0].rejection is None


async def test_bedrock_wrong_secret_is_an_auth_error_that_shows_no_secret(up: FakeUpstream) -> None:
    bedrock = client(up, aws_secret_access_key="wrong-secret-value-SECRET")
    with pytest.raises(ProviderAuthError) as refused:
        await bedrock.complete(ChatRequest(model=MODEL_ID, messages=[Message.user("hi")]))
    assert "signature" in str(refused.value)
    assert "SECRET" not in str(refused.value)
    await bedrock.aclose()


async def test_bedrock_stream_faults(up: FakeUpstream) -> None:
    bedrock = client(up)
    request = ChatRequest(model=MODEL_ID, messages=[Message.user("hi")])
    up.script(Fault(cut_stream_after=2))
    with pytest.raises(ProviderUnavailable):  # the body ends mid-message: never taken for a whole answer
        _ = [e async for e in bedrock.stream(request)]
    up.script(Fault(malformed=True))
    with pytest.raises(ProviderUnavailable, match="CRC"):
        _ = [e async for e in bedrock.stream(request)]
    await bedrock.aclose()


async def test_bedrock_exception_event_mid_stream_is_mapped(canned: Any) -> None:
    state, url = canned
    frame = encode_message(
        {":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"},
        b'{"role":"assistant"}',
    )
    state.pieces = [frame, exception_frame("throttlingException", "Too many tokens, please wait.")]
    state.content_type = "application/vnd.amazon.eventstream"
    section = ProviderSection(
        kind="bedrock", base_url=url, region="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s" * 20
    )
    bedrock = builtin_kinds()["bedrock"]("canned", section)
    with pytest.raises(ProviderRateLimited, match="Too many tokens"):
        _ = [e async for e in bedrock.stream(ChatRequest(model=MODEL_ID, messages=[Message.user("hi")]))]
    await bedrock.aclose()


async def test_bedrock_stream_assembles_tool_input_fragments(up: FakeUpstream) -> None:
    up.script(Reply(tool_calls=[("get_weather", {"city": "Reykjavík", "days": 3})], chunk_size=4))
    bedrock = client(up)
    events = [e async for e in bedrock.stream(ChatRequest(model=MODEL_ID, messages=[Message.user("hi")]))]
    finish = events[-1]
    assert isinstance(finish, StreamFinish)
    assert finish.finish_reason == "tool_calls"
    assert finish.tool_calls[0].arguments == {"city": "Reykjavík", "days": 3}
    await bedrock.aclose()


async def test_bedrock_params_go_where_converse_wants_them(up: FakeUpstream) -> None:
    bedrock = client(up)
    params = {
        "top_k": 40,
        "seed": 7,
        "inferenceConfig": {"maxTokens": 10},
        "performanceConfig": {"latency": "standard"},
    }
    request = ChatRequest(model=MODEL_ID, messages=[Message.user("hi")], max_output_tokens=100, params=params)
    await bedrock.complete(request)
    body = up.requests[0].body
    assert body["additionalModelRequestFields"] == {"top_k": 40}  # a model's own field
    assert "seed" not in str(body)  # OpenAI-only: dropped with a warning
    assert body["inferenceConfig"]["maxTokens"] == 10  # params may lower the cap, never raise it
    assert body["performanceConfig"] == {"latency": "standard"}
    assert up.requests[0].rejection is None
    await bedrock.aclose()


def test_bedrock_needs_a_region_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_BEARER_TOKEN_BEDROCK",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="region"):
        builtin_kinds()["bedrock"]("b", ProviderSection(kind="bedrock"))
    with pytest.raises(ConfigError, match="no AWS credentials"):
        builtin_kinds()["bedrock"]("b", ProviderSection(kind="bedrock", region="us-west-2"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    made = builtin_kinds()["bedrock"]("b", ProviderSection(kind="bedrock", region="us-west-2"))
    assert "bedrock-runtime.us-west-2.amazonaws.com" in repr(made)


THINKING = {"additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}}}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_bedrock_reasoning_goes_back_unchanged_in_a_tool_loop(up: FakeUpstream, stream: bool) -> None:
    up.script(
        Reply(tool_calls=[("get_weather", {"city": "Bergen"})], thinking="The user wants the weather; ask the tool."),
        Reply(text="Rain in Bergen."),
    )
    async with Runtime.open(runtime_config("bedrock", up, MODEL_ID), plugins=False) as rt:
        if stream:
            events = [e async for e in rt.stream("m", "weather?", tools=[get_weather], **THINKING)]
            completion = next(e.completion for e in events if isinstance(e, Completed))
        else:
            completion = await rt.generate("m", "weather?", tools=[get_weather], **THINKING)
    assert completion.text == "Rain in Bergen."
    assert up.rejected == []  # the fake checks the signed reasoning came back as issued
    reasoning = up.requests[1].body["messages"][1]["content"][0]["reasoningContent"]["reasoningText"]
    assert reasoning["text"] == "The user wants the weather; ask the tool."
    assert reasoning["signature"]


async def test_the_fake_refuses_a_tool_turn_without_its_reasoning(up: FakeUpstream) -> None:
    from agentrt.types import ToolCall

    bedrock = client(up)
    call = ToolCall(id="tooluse_1", name="get_weather", arguments={"city": "Bergen"})
    history = [Message.user("weather?"), Message.assistant(tool_calls=[call]), Message.tool("tooluse_1", "rain")]
    request = ChatRequest(model=MODEL_ID, messages=history, tools=[get_weather.spec], params=dict(THINKING))
    with pytest.raises(ProviderBadRequest, match="must start with a thinking block"):
        await bedrock.complete(request)


async def test_bedrock_api_key_is_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
    async with FakeUpstream(api_key="bedrock-api-key-0123456789") as upstream:
        section = ProviderSection(kind="bedrock", base_url=upstream.url, region="us-east-1")
        bedrock = builtin_kinds()["bedrock"]("b", section)
        answer = await bedrock.complete(ChatRequest(model=MODEL_ID, messages=[Message.user("hi")]))
        assert "Bedrock API key" in await bedrock.check()
        wrong_key = ProviderSection(kind="bedrock", base_url=upstream.url, region="us-east-1", api_key="not-the-key")
        wrong = builtin_kinds()["bedrock"]("b", wrong_key)
        with pytest.raises(ProviderAuthError, match="API Key"):
            await wrong.complete(ChatRequest(model=MODEL_ID, messages=[Message.user("hi")]))
        await bedrock.aclose()
        await wrong.aclose()
    assert answer.text == "echo: hi"
    headers = upstream.requests[0].headers
    assert headers["authorization"] == "Bearer bedrock-api-key-0123456789"
    assert "x-amz-date" not in headers  # not signed
    with pytest.raises(ConfigError, match="not both"):
        builtin_kinds()["bedrock"](
            "b", ProviderSection(kind="bedrock", region="us-east-1", api_key="k", aws_access_key_id="AKID")
        )
