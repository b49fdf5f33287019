"""Fault injection, seen by a plain aiohttp client: drops, garbage, cut streams, delays, times."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from fake_upstream_support import (
    ANTHROPIC_HEADERS,
    ANTHROPIC_MESSAGES,
    GEMINI_GENERATE,
    GEMINI_STREAM,
    GOOGLE_HEADERS,
    OPENAI_CHAT,
    OPENAI_HEADERS,
    anthropic_body,
    gemini_body,
    openai_body,
    post_json,
)

from agentrt.testing import FakeUpstream, Fault, Reply


async def test_drop_closes_the_connection_without_a_response(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Fault(drop=True))

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post_json(session, upstream.url + OPENAI_CHAT, openai_body(), OPENAI_HEADERS)

    status, body = await post_json(session, upstream.url + OPENAI_CHAT, openai_body("again"), OPENAI_HEADERS)
    assert (status, body["choices"][0]["message"]["content"]) == (200, "echo: again")


async def test_malformed_plain_body_is_not_json(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    upstream.script(Fault(malformed=True))

    async with session.post(upstream.url + OPENAI_CHAT, json=openai_body(), headers=OPENAI_HEADERS) as response:
        raw = await response.read()

    assert response.status == 200
    assert response.content_type == "application/json"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        (OPENAI_CHAT, openai_body(stream=True), OPENAI_HEADERS),
        (ANTHROPIC_MESSAGES, anthropic_body(stream=True), ANTHROPIC_HEADERS),
        (GEMINI_STREAM, gemini_body(), GOOGLE_HEADERS),
    ],
    ids=["openai", "anthropic", "google"],
)
async def test_malformed_stream_sends_a_garbage_data_line(
    upstream: FakeUpstream, session: aiohttp.ClientSession, path: str, body: object, headers: dict[str, str]
) -> None:
    upstream.script(Fault(malformed=True))

    async with session.post(upstream.url + path, json=body, headers=headers) as response:
        data_lines = [line async for line in response.content if line.startswith(b"data: ")]

    assert response.status == 200
    assert len(data_lines) == 1
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(data_lines[0].removeprefix(b"data: "))


async def read_until_cut(response: aiohttp.ClientResponse) -> list[bytes]:
    """The data lines a cut stream delivered; fails the test unless the stream ends with an error."""
    lines: list[bytes] = []

    async def consume() -> None:
        async for line in response.content:
            if line.startswith(b"data: "):
                lines.append(line.rstrip())

    with pytest.raises(aiohttp.ClientPayloadError):
        await consume()
    return lines


async def test_cut_openai_stream_never_sends_done(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    upstream.script(Fault(cut_stream_after=3))

    async with session.post(
        upstream.url + OPENAI_CHAT, json=openai_body("a long enough question", stream=True), headers=OPENAI_HEADERS
    ) as response:
        lines = await read_until_cut(response)

    assert len(lines) == 3
    assert b"data: [DONE]" not in lines
    assert all(orjson.loads(line.removeprefix(b"data: "))["object"] == "chat.completion.chunk" for line in lines)


async def test_cut_anthropic_stream_never_sends_message_stop(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Fault(cut_stream_after=100))  # more than the stream has: all but the last event

    async with session.post(
        upstream.url + ANTHROPIC_MESSAGES, json=anthropic_body(stream=True), headers=ANTHROPIC_HEADERS
    ) as response:
        lines = await read_until_cut(response)

    kinds = [orjson.loads(line.removeprefix(b"data: "))["type"] for line in lines]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_delta"
    assert "message_stop" not in kinds


async def test_cut_gemini_stream_never_sends_the_final_chunk(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Fault(cut_stream_after=1))

    async with session.post(
        upstream.url + GEMINI_STREAM, json=gemini_body("a question long enough for chunks"), headers=GOOGLE_HEADERS
    ) as response:
        lines = await read_until_cut(response)

    [only] = [orjson.loads(line.removeprefix(b"data: ")) for line in lines]
    assert "finishReason" not in only["candidates"][0]
    assert "usageMetadata" not in only


async def test_cut_plain_response_sends_half_the_body(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    upstream.script(Fault(cut_stream_after=0))

    async with session.post(upstream.url + OPENAI_CHAT, json=openai_body(), headers=OPENAI_HEADERS) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_delay_outlasts_a_client_timeout_then_the_fault_is_spent(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Fault(delay=30))

    with pytest.raises(asyncio.TimeoutError):
        async with session.post(
            upstream.url + OPENAI_CHAT,
            json=openai_body(),
            headers=OPENAI_HEADERS,
            timeout=aiohttp.ClientTimeout(total=0.2),
        ) as response:
            await response.read()

    status, _ = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(), OPENAI_HEADERS)
    assert status == 200


async def test_delay_alone_then_answers_normally(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    upstream.script(Fault(delay=0.05), Reply(text="second"))

    first = await post_json(session, upstream.url + OPENAI_CHAT, openai_body("first"), OPENAI_HEADERS)
    second = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(), OPENAI_HEADERS)

    assert first[1]["choices"][0]["message"]["content"] == "echo: first"
    assert second[1]["choices"][0]["message"]["content"] == "second"


async def test_reply_delay_holds_the_first_stream_event(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    upstream.script(Reply(text="late", delay=30))

    async with session.post(
        upstream.url + OPENAI_CHAT,
        json=openai_body(stream=True),
        headers=OPENAI_HEADERS,
        timeout=aiohttp.ClientTimeout(sock_read=0.2),
    ) as response:
        assert response.status == 200  # the headers come at once ...
        with pytest.raises(asyncio.TimeoutError):
            await response.content.readline()  # ... the first event does not


async def test_times_repeats_a_fault_then_the_queue_moves_on(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Fault(status=503, times=2), Reply(text="recovered"))

    statuses = []
    for _ in range(4):
        status, body = await post_json(session, upstream.url + OPENAI_CHAT, openai_body("x"), OPENAI_HEADERS)
        statuses.append((status, body.get("choices", [{}])[0].get("message", {}).get("content")))

    assert statuses == [(503, None), (503, None), (200, "recovered"), (200, "echo: x")]


async def test_fault_applies_to_embeddings_too(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    upstream.script(Fault(status=429, retry_after=0.5))

    async with session.post(
        upstream.url + "/v1/embeddings", json={"model": "text-embedding-3-small", "input": "a"}, headers=OPENAI_HEADERS
    ) as response:
        body = orjson.loads(await response.read())

    assert response.status == 429
    assert response.headers["Retry-After"] == "0.5"
    assert body["error"]["code"] == "rate_limit_exceeded"


async def test_other_error_codes_fill_the_providers_error_kind(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Fault(status=429, error_code="insufficient_quota", message="no credit"), model="gpt-4o-mini")
    upstream.script(Fault(status=403, error_code="permission_error"), model="claude-haiku-4-5")
    upstream.script(Fault(status=400, error_code="FAILED_PRECONDITION"), model="gemini-2.5-flash")

    _, openai_error = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(), OPENAI_HEADERS)
    _, anthropic_error = await post_json(
        session, upstream.url + ANTHROPIC_MESSAGES, anthropic_body(), ANTHROPIC_HEADERS
    )
    _, gemini_error = await post_json(session, upstream.url + GEMINI_GENERATE, gemini_body(), GOOGLE_HEADERS)

    assert openai_error["error"] == {
        "message": "no credit",
        "type": "requests",
        "param": None,
        "code": "insufficient_quota",
    }
    assert anthropic_error["error"]["type"] == "permission_error"
    assert gemini_error["error"]["status"] == "FAILED_PRECONDITION"
