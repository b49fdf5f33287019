"""Every failure of an HTTP provider becomes the right agentrt error, with context and no secret."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from agentrt.config import ProviderSection
from agentrt.errors import (
    ContextLengthExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RuntimeStateError,
)
from agentrt.providers import builtin_kinds
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import ChatRequest, EmbeddingRequest, Message, StreamFinish

KINDS = ["openai", "anthropic", "google"]
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "google": "gemini-2.5-flash"}


def request(kind: str) -> ChatRequest:
    return ChatRequest(model=MODELS[kind], messages=[Message.user("hello")])


async def run(client: Any, kind: str, *, stream: bool) -> Any:
    if not stream:
        return await client.complete(request(kind))
    return [event async for event in client.stream(request(kind))]


def assert_no_secret(err: BaseException, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(err)
        assert secret not in repr(err)
        assert secret not in repr(err.args)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["plain", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def test_429_is_rate_limited_with_the_retry_after_header_value(
    up: FakeUpstream, make_client, kind: str, stream: bool
) -> None:
    up.script(Fault(status=429, retry_after=7, message="slow down"))
    with pytest.raises(ProviderRateLimited) as caught:
        await run(make_client(kind), kind, stream=stream)
    err = caught.value
    assert err.retry_after == 7
    assert (err.status, err.provider, err.model) == (429, f"my-{kind}", MODELS[kind])
    assert "slow down" in str(err)
    assert err.retryable


async def test_429_without_a_hint_has_no_retry_after(up: FakeUpstream, make_client, kind: str) -> None:
    up.script(Fault(status=429))
    with pytest.raises(ProviderRateLimited) as caught:
        await run(make_client(kind), kind, stream=False)
    assert caught.value.retry_after is None


async def test_a_wrong_key_is_an_auth_error_that_names_neither_key(
    up: FakeUpstream, make_client, kind: str, stream: bool, api_key: str
) -> None:
    wrong = "sk-wrong-9876543210fedcbaKEY"
    with pytest.raises(ProviderAuthError) as caught:
        await run(make_client(kind, api_key=wrong), kind, stream=stream)
    assert caught.value.status == 401
    assert "api_key" in str(caught.value)
    assert_no_secret(caught.value, wrong, api_key)


async def test_a_provider_message_quoting_the_key_is_blanked(
    up: FakeUpstream, make_client, kind: str, api_key: str
) -> None:
    up.script(Fault(status=403, message=f"key {api_key} may not use this model"))
    with pytest.raises(ProviderAuthError) as caught:
        await run(make_client(kind), kind, stream=False)
    assert "may not use this model" in str(caught.value)
    assert_no_secret(caught.value, api_key)


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_other_4xx_are_bad_requests(up: FakeUpstream, make_client, kind: str, status: int) -> None:
    up.script(Fault(status=status, message="no such parameter: frobnicate"))
    with pytest.raises(ProviderBadRequest) as caught:
        await run(make_client(kind), kind, stream=False)
    assert type(caught.value) is ProviderBadRequest
    assert caught.value.status == status
    assert "no such parameter: frobnicate" in str(caught.value)
    assert not caught.value.retryable


async def test_the_context_length_error_is_recognised(up: FakeUpstream, make_client, kind: str, stream: bool) -> None:
    up.script(Fault(error_code="context_length_exceeded"))
    with pytest.raises(ContextLengthExceeded) as caught:
        await run(make_client(kind), kind, stream=stream)
    assert caught.value.status == 400
    assert "context window" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_are_unavailable(up: FakeUpstream, make_client, kind: str, status: int) -> None:
    up.script(Fault(status=status))
    with pytest.raises(ProviderUnavailable) as caught:
        await run(make_client(kind), kind, stream=False)
    assert caught.value.status == status
    assert caught.value.retryable


async def test_anthropic_overloaded_529_is_unavailable(up: FakeUpstream, make_client, stream: bool) -> None:
    up.script(Fault(status=529, message="Overloaded"))
    with pytest.raises(ProviderUnavailable) as caught:
        await run(make_client("anthropic"), "anthropic", stream=stream)
    assert caught.value.status == 529
    assert "Overloaded" in str(caught.value)


async def test_a_dropped_connection_is_unavailable(up: FakeUpstream, make_client, kind: str, stream: bool) -> None:
    up.script(Fault(drop=True))
    with pytest.raises(ProviderUnavailable):
        await run(make_client(kind), kind, stream=stream)


async def test_a_body_that_is_not_json_is_a_malformed_response(
    up: FakeUpstream, make_client, kind: str, stream: bool
) -> None:
    up.script(Fault(malformed=True))
    with pytest.raises(ProviderUnavailable, match="malformed response") as caught:
        await run(make_client(kind), kind, stream=stream)
    assert caught.value.status == 200


@pytest.mark.parametrize("events", [0, 1, 2])
async def test_a_cut_stream_is_unavailable(up: FakeUpstream, make_client, kind: str, events: int) -> None:
    up.script(Fault(cut_stream_after=events))
    with pytest.raises(ProviderUnavailable) as caught:
        await run(make_client(kind), kind, stream=True)
    assert caught.value.provider == f"my-{kind}"


async def test_a_cut_plain_answer_is_unavailable(up: FakeUpstream, make_client, kind: str) -> None:
    up.script(Fault(cut_stream_after=0))
    with pytest.raises(ProviderUnavailable):
        await run(make_client(kind), kind, stream=False)


async def test_no_answer_within_the_timeout_is_a_timeout(
    up: FakeUpstream, make_client, kind: str, stream: bool
) -> None:
    up.script(Fault(delay=5))
    with pytest.raises(ProviderTimeout) as caught:
        await run(make_client(kind, timeout="100ms"), kind, stream=stream)
    assert "timeout" in str(caught.value)
    assert caught.value.retryable


async def test_the_client_recovers_after_faults(up: FakeUpstream, make_client, kind: str) -> None:
    client = make_client(kind)
    up.script(Fault(drop=True), Fault(status=500), Reply(text="fine"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await client.complete(request(kind))
    assert (await client.complete(request(kind))).text == "fine"
    events = await run(client, kind, stream=True)
    assert isinstance(events[-1], StreamFinish)


async def test_leaving_a_stream_early_or_cancelling_a_call_leaves_the_client_usable(
    up: FakeUpstream, make_client, kind: str
) -> None:
    client = make_client(kind)
    up.script(Reply(text="a long answer in many small pieces", chunk_size=2))
    async for _event in client.stream(request(kind)):
        break  # the caller stops reading after the first delta
    up.script(Fault(delay=5))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):  # the caller's own deadline cancels the call
            await client.complete(request(kind))
    assert (await client.complete(request(kind))).text == "echo: hello"


async def test_many_calls_in_flight_share_a_small_pool(up: FakeUpstream, make_client, kind: str) -> None:
    client = make_client(kind, max_concurrency=2)
    texts = [Message.user(f"call {i}") for i in range(24)]
    responses = await asyncio.gather(*(client.complete(ChatRequest(model=MODELS[kind], messages=[m])) for m in texts))
    assert sorted(r.text for r in responses) == sorted(f"echo: call {i}" for i in range(24))


async def test_a_refused_connection_is_unavailable(kind: str, api_key: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        section = ProviderSection(kind=kind, api_key=api_key, base_url=f"http://127.0.0.1:{port}")
        client = builtin_kinds()[kind]("down", section)
        try:
            with pytest.raises(ProviderUnavailable, match="cannot connect") as caught:
                await client.complete(request(kind))
        finally:
            await client.aclose()
    assert_no_secret(caught.value, api_key)


async def test_credentials_in_the_base_url_never_reach_a_message(kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        section = ProviderSection(kind=kind, base_url=f"http://user:hunter2secret@127.0.0.1:{port}/p?key=topsecret1")
        client = builtin_kinds()[kind]("down", section)
        try:
            with pytest.raises(ProviderError) as caught:
                await client.complete(request(kind))
        finally:
            await client.aclose()
    assert_no_secret(caught.value, "hunter2secret", "topsecret1")
    assert "hunter2secret" not in repr(client)


async def test_a_closed_client_says_so_and_closing_twice_is_harmless(make_client, kind: str) -> None:
    client = make_client(kind)
    await client.aclose()
    await client.aclose()
    with pytest.raises(RuntimeStateError, match="closed"):
        await client.complete(request(kind))


async def test_params_that_are_not_json_are_a_bad_request_before_sending(
    up: FakeUpstream, make_client, kind: str
) -> None:
    bad = ChatRequest(model=MODELS[kind], messages=[Message.user("x")], params={"when": object()})
    with pytest.raises(ProviderBadRequest, match="JSON"):
        await make_client(kind).complete(bad)
    assert up.requests == []


@pytest.mark.parametrize("kind_with_embeddings", ["openai", "google"])
async def test_embedding_errors_map_the_same_way(up: FakeUpstream, make_client, kind_with_embeddings: str) -> None:
    up.script(Fault(status=429, retry_after=2), Fault(malformed=True))
    client = make_client(kind_with_embeddings)
    embed = EmbeddingRequest(model="embedder", inputs=["a"])
    with pytest.raises(ProviderRateLimited) as caught:
        await client.embed(embed)
    assert caught.value.retry_after == 2
    with pytest.raises(ProviderUnavailable, match="malformed"):
        await client.embed(embed)
