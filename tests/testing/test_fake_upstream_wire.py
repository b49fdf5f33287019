"""What the SDKs hide: recorded requests, auth, scripts per model, ids, and the raw SSE framing."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from fake_upstream_support import (
    ANTHROPIC_HEADERS,
    ANTHROPIC_MESSAGES,
    API_KEY,
    GEMINI_GENERATE,
    GEMINI_STREAM,
    GOOGLE_HEADERS,
    OPENAI_CHAT,
    OPENAI_HEADERS,
    anthropic_body,
    gemini_body,
    openai_body,
    post_json,
    sse_data,
    sse_events,
)

from agentrt.testing import FakeUpstream, Reply


def content_of(body: dict[str, object]) -> object:
    return body["choices"][0]["message"]["content"]  # type: ignore[index]


async def test_requests_are_recorded_as_sent(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    await post_json(session, upstream.url + OPENAI_CHAT, openai_body("one"), {**OPENAI_HEADERS, "X-Trace": "t1"})
    await sse_data(session, upstream.url + ANTHROPIC_MESSAGES, anthropic_body(stream=True), ANTHROPIC_HEADERS)
    await sse_data(session, upstream.url + GEMINI_STREAM, gemini_body(), GOOGLE_HEADERS)

    openai_request, anthropic_request, gemini_request = upstream.requests
    assert (openai_request.api, openai_request.path, openai_request.model) == ("openai", OPENAI_CHAT, "gpt-4o-mini")
    assert openai_request.headers["x-trace"] == "t1"
    assert openai_request.headers["authorization"] == f"Bearer {API_KEY}"
    assert openai_request.body == openai_body("one")
    assert openai_request.stream is False
    assert (anthropic_request.api, anthropic_request.model, anthropic_request.stream) == (
        "anthropic",
        "claude-haiku-4-5",
        True,
    )
    assert (gemini_request.api, gemini_request.model, gemini_request.stream) == ("google", "gemini-2.5-flash", True)
    assert gemini_request.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert gemini_request.query == {"alt": "sse"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "error_field"),
    [
        (OPENAI_CHAT, openai_body(), {}, "code"),
        (ANTHROPIC_MESSAGES, anthropic_body(), {"anthropic-version": "2023-06-01"}, "type"),
        (GEMINI_GENERATE, gemini_body(), {}, "status"),
    ],
    ids=["openai", "anthropic", "google"],
)
async def test_missing_key_gets_the_providers_401(
    upstream: FakeUpstream,
    session: aiohttp.ClientSession,
    path: str,
    body: object,
    headers: dict[str, str],
    error_field: str,
) -> None:
    status, error = await post_json(session, upstream.url + path, body, headers)

    assert status == 401
    assert error["error"][error_field] in ("invalid_api_key", "authentication_error", "UNAUTHENTICATED")
    assert len(upstream.requests) == 1  # refused requests are recorded too


async def test_gemini_takes_the_key_in_the_query(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    status, body = await post_json(session, f"{upstream.url}{GEMINI_GENERATE}?key={API_KEY}", gemini_body(), {})

    assert status == 200
    assert body["candidates"][0]["content"]["parts"] == [{"text": "echo: hi"}]


async def test_anthropic_requires_a_version_header(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    status, error = await post_json(
        session, upstream.url + ANTHROPIC_MESSAGES, anthropic_body(), {"x-api-key": API_KEY}
    )

    assert status == 400
    assert error == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "anthropic-version: header is required"},
    }


async def test_without_an_api_key_any_key_is_accepted(session: aiohttp.ClientSession) -> None:
    async with FakeUpstream() as open_upstream:
        status, _ = await post_json(session, open_upstream.url + OPENAI_CHAT, openai_body(), {})
    assert status == 200


@pytest.mark.parametrize(
    ("path", "headers", "body", "words"),
    [
        (OPENAI_CHAT, OPENAI_HEADERS, {"model": "gpt-4o-mini"}, "messages"),
        (ANTHROPIC_MESSAGES, ANTHROPIC_HEADERS, {"model": "m", "messages": []}, "max_tokens"),
        (GEMINI_GENERATE, GOOGLE_HEADERS, {"contents": []}, "contents"),
    ],
    ids=["openai", "anthropic", "google"],
)
async def test_invalid_requests_get_a_400_that_names_the_problem(
    upstream: FakeUpstream, session: aiohttp.ClientSession, path: str, headers: dict[str, str], body: object, words: str
) -> None:
    status, error = await post_json(session, upstream.url + path, body, headers)

    assert status == 400
    assert words in error["error"]["message"]


async def test_a_body_that_is_not_json_gets_a_400(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    async with session.post(upstream.url + OPENAI_CHAT, data=b"{nope", headers=OPENAI_HEADERS) as response:
        error = orjson.loads(await response.read())

    assert response.status == 400
    assert error["error"]["type"] == "invalid_request_error"
    assert upstream.requests[0].body is None


async def test_unknown_gemini_method_is_a_404(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    status, error = await post_json(
        session, upstream.url + "/v1beta/models/gemini-2.5-flash:countTokens", {}, GOOGLE_HEADERS
    )

    assert status == 404
    assert error["error"]["status"] == "NOT_FOUND"


async def test_scripts_per_model_come_before_the_global_queue(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Reply(text="global"))
    upstream.script(Reply(text="for model a"), model="model-a")
    upstream.script(Reply(text="for gemini"), model="models/gemini-2.5-flash")  # the prefix is ignored

    b = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(model="model-b"), OPENAI_HEADERS)
    a = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(model="model-a"), OPENAI_HEADERS)
    a_again = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(model="model-a"), OPENAI_HEADERS)
    gemini = await post_json(session, upstream.url + GEMINI_GENERATE, gemini_body(), GOOGLE_HEADERS)

    assert content_of(b[1]) == "global"
    assert content_of(a[1]) == "for model a"
    assert content_of(a_again[1]) == "echo: hi"  # both queues empty now
    assert gemini[1]["candidates"][0]["content"]["parts"][0]["text"] == "for gemini"


async def test_reset_forgets_scripts_requests_and_ids(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    upstream.script(Reply(text="scripted"))
    first = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(), OPENAI_HEADERS)
    upstream.script(Reply(text="never used"))

    upstream.reset()
    after = await post_json(session, upstream.url + OPENAI_CHAT, openai_body(), OPENAI_HEADERS)

    assert content_of(after[1]) == "echo: hi"
    assert after[1]["id"] == first[1]["id"] == "chatcmpl-fake000001"
    assert len(upstream.requests) == 1


async def test_ids_are_the_same_on_every_server(session: aiohttp.ClientSession) -> None:
    ids = []
    for _ in range(2):
        async with FakeUpstream() as fresh:
            fresh.script(Reply(tool_calls=[("f", {})]))
            _, body = await post_json(session, fresh.url + ANTHROPIC_MESSAGES, anthropic_body(), ANTHROPIC_HEADERS)
            ids.append((body["id"], body["content"][0]["id"]))

    assert ids[0] == ids[1] == ("msg_fake000001", "toolu_fake000001")


async def test_openai_stream_ends_with_done(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    data = await sse_data(session, upstream.url + OPENAI_CHAT, openai_body(stream=True), OPENAI_HEADERS)

    assert data[-1] == "[DONE]"
    assert all(orjson.loads(d)["object"] == "chat.completion.chunk" for d in data[:-1])


async def test_anthropic_stream_names_every_event_and_pings(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    names = await sse_events(session, upstream.url + ANTHROPIC_MESSAGES, anthropic_body(stream=True), ANTHROPIC_HEADERS)

    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_gemini_stream_without_sse_is_one_json_array(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    upstream.script(Reply(text="twelve chars", chunk_size=4))

    status, chunks = await post_json(
        session, upstream.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent", gemini_body(), GOOGLE_HEADERS
    )

    assert status == 200
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == ["twel", "ve c", "hars"]


@pytest.mark.parametrize(
    ("path", "headers", "key", "expected"),
    [
        ("/v1/models", OPENAI_HEADERS, "data", "gpt-4o-mini"),
        ("/v1/models", ANTHROPIC_HEADERS, "data", "claude-haiku-4-5"),
        ("/v1beta/models", GOOGLE_HEADERS, "models", "models/gemini-2.5-flash"),
    ],
    ids=["openai", "anthropic", "google"],
)
async def test_model_lists_in_each_format(
    upstream: FakeUpstream, session: aiohttp.ClientSession, path: str, headers: dict[str, str], key: str, expected: str
) -> None:
    async with session.get(upstream.url + path, headers=headers) as response:
        body = orjson.loads(await response.read())

    assert response.status == 200
    names = [m.get("id") or m.get("name") for m in body[key]]
    assert expected in names
