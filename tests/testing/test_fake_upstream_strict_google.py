"""The strict FakeUpstream refuses what Gemini refuses, with Gemini's own 400 body."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from fake_upstream_support import API_KEY, GOOGLE_HEADERS, gemini_body, post_json
from google import genai
from google.genai import errors, types

from agentrt.testing import FakeUpstream, Recorded, Reply
from agentrt.testing._recorded import read_httprr

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded" / "google"
USER = {"role": "user", "parts": [{"text": "weather in Oslo?"}]}
CALLS = {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}]}
ANSWERS = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}}]}
TOOLS = [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {"type": "object"}}]}]


def generate_url(upstream: FakeUpstream, model: str = "gemini-2.5-flash") -> str:
    return f"{upstream.url}/v1beta/models/{model}:generateContent"


def bad_request(message: str, field: str | None = None) -> dict[str, Any]:
    violation = {"field": field, "description": message} if field else {"description": message}
    detail = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": [detail]}}


VALID = [
    pytest.param(gemini_body(), id="plain"),
    pytest.param({**gemini_body(), "generation_config": {"max_output_tokens": 5}}, id="snake-case-spelling"),
    pytest.param(
        {"contents": [USER, CALLS, ANSWERS], "tools": TOOLS, "generationConfig": {"maxOutputTokens": 5}},
        id="function-call-answered",
    ),
]

INVALID = [
    pytest.param(
        {**gemini_body(), "generationConfig": {"maxTokens": 5}},
        bad_request(
            "Invalid JSON payload received. Unknown name \"maxTokens\" at 'generation_config': Cannot find field."
        ),
        id="unknown-config-field",
    ),
    pytest.param(
        {**gemini_body(), "seed": 5},
        bad_request('Invalid JSON payload received. Unknown name "seed": Cannot find field.'),
        id="unknown-top-level-field",
    ),
    pytest.param(
        {"contents": [{"role": "user", "parts": [{"text": 5}]}]},
        bad_request(
            "Invalid value at 'contents[0].parts[0].text': Input should be a valid string", "contents[0].parts[0].text"
        ),
        id="wrong-type",
    ),
    pytest.param(
        {"contents": [USER, CALLS, {"role": "user", "parts": [{"text": "and?"}]}], "tools": TOOLS},
        bad_request(
            "Please ensure that the number of function response parts is equal to the number of function call "
            "parts of the function call turn."
        ),
        id="function-call-unanswered",
    ),
    pytest.param(
        {"contents": [USER, ANSWERS], "tools": TOOLS},
        bad_request("Please ensure that function response turn comes immediately after a function call turn."),
        id="orphan-function-response",
    ),
]


@pytest.mark.parametrize("body", VALID)
async def test_a_request_gemini_accepts_is_answered(
    upstream: FakeUpstream, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    status, answer = await post_json(session, generate_url(upstream), body, GOOGLE_HEADERS)
    assert status == 200
    assert answer["candidates"]
    assert upstream.rejected == []


@pytest.mark.parametrize(("body", "expected"), INVALID)
async def test_a_request_gemini_refuses_gets_its_400(
    upstream: FakeUpstream, session: aiohttp.ClientSession, body: dict[str, Any], expected: dict[str, Any]
) -> None:
    status, answer = await post_json(session, generate_url(upstream), body, GOOGLE_HEADERS)
    assert (status, answer) == (400, expected)
    assert [r.rejection for r in upstream.requests] == [expected["error"]["message"]]


@pytest.mark.parametrize("trace", sorted(p.name for p in RECORDED.glob("*.httprr")))
async def test_every_request_gemini_accepted_live_is_accepted(
    upstream: FakeUpstream, session: aiohttp.ClientSession, trace: str
) -> None:
    """The oracle agrees with the real API on real traffic, signatures included (learnt from the replies)."""
    for exchange, recording in enumerate(read_httprr(RECORDED / trace)):
        upstream.script(Recorded.from_httprr(RECORDED / trace, exchange))
        url = upstream.url + recording.url.split("googleapis.com")[1]
        headers = {**GOOGLE_HEADERS, "Content-Type": "application/json"}
        async with session.post(url, data=recording.request_body, headers=headers) as response:
            assert response.status == 200, await response.text()
            assert await response.read() == recording.response_body
    assert upstream.rejected == []


def gemini3_second_turn(signed_part: dict[str, Any]) -> dict[str, Any]:
    return {"contents": [USER, {"role": "model", "parts": [signed_part]}, ANSWERS], "tools": TOOLS}


async def signed_call(upstream: FakeUpstream, session: aiohttp.ClientSession) -> dict[str, Any]:
    upstream.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]))
    url = generate_url(upstream, "gemini-3-pro-preview")
    status, answer = await post_json(session, url, {"contents": [USER], "tools": TOOLS}, GOOGLE_HEADERS)
    assert status == 200
    part: dict[str, Any] = answer["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"]["name"] == "get_weather"
    assert part["thoughtSignature"]
    return part


async def test_gemini3_accepts_its_signature_back(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    part = await signed_call(upstream, session)
    url = generate_url(upstream, "gemini-3-pro-preview")
    status, _ = await post_json(session, url, gemini3_second_turn(part), GOOGLE_HEADERS)
    assert status == 200


async def test_gemini3_refuses_a_call_without_its_signature(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    part = await signed_call(upstream, session)
    del part["thoughtSignature"]
    url = generate_url(upstream, "gemini-3-pro-preview")
    status, answer = await post_json(session, url, gemini3_second_turn(part), GOOGLE_HEADERS)
    assert (status, answer) == (
        400,
        bad_request(
            "Unable to submit request because function call `get_weather` in the 2. content block is missing a "
            "`thought_signature`. Learn more: https://ai.google.dev/gemini-api/docs/thought-signatures"
        ),
    )


async def test_an_altered_signature_is_refused(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    part = await signed_call(upstream, session)
    part["thoughtSignature"] = base64.b64encode(b"forged").decode()
    url = generate_url(upstream, "gemini-3-pro-preview")
    status, answer = await post_json(session, url, gemini3_second_turn(part), GOOGLE_HEADERS)
    assert (status, answer) == (400, bad_request("Corrupted thought signature."))


async def test_older_models_need_no_signature(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    status, _ = await post_json(session, generate_url(upstream), gemini3_second_turn(CALLS["parts"][0]), GOOGLE_HEADERS)
    assert status == 200


async def test_the_google_sdk_raises_its_client_error(upstream: FakeUpstream) -> None:
    options = types.HttpOptions(base_url=upstream.google_base_url, retry_options=types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key=API_KEY, http_options=options).aio
    contents: Any = [USER, CALLS]  # a function call never answered
    with pytest.raises(errors.ClientError) as caught:
        await client.models.generate_content(model="gemini-2.5-flash", contents=contents)
    await client.aclose()
    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert "number of function response parts" in (caught.value.message or "")


async def test_recorded_bytes_arrive_unchanged(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    raw = orjson.dumps({"candidates": [{"content": {"parts": [{"text": "ü€"}], "role": "model"}}]})
    upstream.script(Recorded(raw, chunk_sizes=(1,)))
    async with session.post(generate_url(upstream), json=gemini_body(), headers=GOOGLE_HEADERS) as response:
        pieces = [chunk async for chunk in response.content.iter_any()]
        assert response.content_type == "application/json"
    assert b"".join(pieces) == raw
    assert len(pieces) > 1  # written in pieces, not at once


async def test_embeddings_are_checked_too(upstream: FakeUpstream, session: aiohttp.ClientSession) -> None:
    url = f"{upstream.url}/v1beta/models/gemini-embedding-001:batchEmbedContents"
    request = {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "taskType": "QUERY"}
    ok, _ = await post_json(session, url, {"requests": [request]}, GOOGLE_HEADERS)
    status, answer = await post_json(session, url, {"requests": [{**request, "temperature": 0.3}]}, GOOGLE_HEADERS)
    assert ok == 200
    assert (status, answer) == (
        400,
        bad_request('Invalid JSON payload received. Unknown name "temperature" at \'requests[0]\': Cannot find field.'),
    )
