"""The Gemini wire format of FakeUpstream, judged by the official google-genai SDK as its client."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator

import pytest
from fake_upstream_support import API_KEY
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from agentrt.testing import FakeUpstream, Fault, Reply

# The SDK's own aiohttp session subclass warns on every client; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

MODEL = "gemini-2.5-flash"
WEATHER_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The weather in a city.",
            parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
        )
    ]
)


class Invoice(BaseModel):
    number: str
    total: float
    lines: list[str]


def make_client(upstream: FakeUpstream, api_key: str = API_KEY) -> genai.Client:
    options = types.HttpOptions(base_url=upstream.google_base_url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=api_key, http_options=options)


@pytest.fixture
async def client(upstream: FakeUpstream) -> AsyncIterator[genai.client.AsyncClient]:
    sync_client = make_client(upstream)
    yield sync_client.aio
    await sync_client.aio.aclose()


async def test_plain_call_parses_text_and_usage(upstream: FakeUpstream, client: genai.client.AsyncClient) -> None:
    upstream.script(Reply(text="Hello, world", usage=(12, 3), cached_tokens=4))

    response = await client.models.generate_content(model=MODEL, contents="hi")

    assert response.text == "Hello, world"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (12, 3, 15)
    assert usage.cached_content_token_count == 4
    assert response.response_id == "fake000001"
    assert upstream.requests[0].model == MODEL
    assert upstream.requests[0].headers["x-goog-api-key"] == API_KEY


async def test_unscripted_call_echoes_and_counts_the_system_instruction(client: genai.client.AsyncClient) -> None:
    config = types.GenerateContentConfig(system_instruction="be brief")

    response = await client.models.generate_content(model=MODEL, contents="what time is it", config=config)

    assert response.text == "echo: what time is it"
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == math.ceil(len("be brief" + "what time is it") / 4)


async def test_stream_chunks_concatenate_and_usage_comes_last(
    upstream: FakeUpstream, client: genai.client.AsyncClient
) -> None:
    upstream.script(Reply(text="The quick brown fox jumps", chunk_size=5, usage=(7, 4)))

    chunks = [chunk async for chunk in await client.models.generate_content_stream(model=MODEL, contents="go")]

    assert [chunk.text for chunk in chunks] == ["The q", "uick ", "brown", " fox ", "jumps"]
    *body, last = chunks
    assert last.usage_metadata is not None
    assert (last.usage_metadata.prompt_token_count, last.usage_metadata.candidates_token_count) == (7, 4)
    assert all(chunk.usage_metadata is None for chunk in body)
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    recorded = upstream.requests[0]
    assert recorded.stream is True
    assert recorded.query.get("alt") == "sse"


async def test_function_call_plain(upstream: FakeUpstream, client: genai.client.AsyncClient) -> None:
    upstream.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    config = types.GenerateContentConfig(
        tools=[WEATHER_TOOL], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )

    response = await client.models.generate_content(model=MODEL, contents="weather?", config=config)

    assert response.function_calls is not None
    [call] = response.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    body = upstream.requests[0].body
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"


async def test_function_call_streamed(upstream: FakeUpstream, client: genai.client.AsyncClient) -> None:
    upstream.script(Reply(text="Checking.", tool_calls=[("get_weather", {"city": "Rome"})], chunk_size=4))
    config = types.GenerateContentConfig(tools=[WEATHER_TOOL])

    chunks = [
        chunk async for chunk in await client.models.generate_content_stream(model=MODEL, contents="w?", config=config)
    ]

    assert "".join(chunk.text or "" for chunk in chunks if not chunk.function_calls) == "Checking."
    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [(call.name, call.args) for call in calls] == [("get_weather", {"city": "Rome"})]
    assert chunks[-1].usage_metadata is not None


async def test_json_output_with_schema_parses_into_the_model(
    upstream: FakeUpstream, client: genai.client.AsyncClient
) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Invoice)

    response = await client.models.generate_content(model=MODEL, contents="an invoice", config=config)

    assert isinstance(response.parsed, Invoice)
    assert upstream.requests[0].body["generationConfig"]["responseMimeType"] == "application/json"


async def test_json_output_with_a_json_schema(client: genai.client.AsyncClient) -> None:
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=Invoice.model_json_schema()
    )

    response = await client.models.generate_content(model=MODEL, contents="an invoice", config=config)

    Invoice.model_validate(json.loads(response.text or ""))


async def test_embeddings_are_deterministic_unit_vectors(
    upstream: FakeUpstream, client: genai.client.AsyncClient
) -> None:
    result = await client.models.embed_content(model="gemini-embedding-001", contents=["alpha", "beta", "alpha"])
    smaller = await client.models.embed_content(
        model="gemini-embedding-001", contents="alpha", config=types.EmbedContentConfig(output_dimensionality=4)
    )

    assert result.embeddings is not None
    alpha, beta, alpha_again = (e.values or [] for e in result.embeddings)
    assert len(alpha) == 8
    assert math.isclose(math.fsum(v * v for v in alpha), 1.0, rel_tol=1e-5)
    assert alpha == alpha_again
    assert alpha != beta
    assert smaller.embeddings is not None
    assert len(smaller.embeddings[0].values or []) == 4
    assert upstream.requests[0].path.endswith("/models/gemini-embedding-001:batchEmbedContents")


async def test_rate_limit_is_resource_exhausted(upstream: FakeUpstream, client: genai.client.AsyncClient) -> None:
    upstream.script(Fault(status=429, message="quota", retry_after=3))

    with pytest.raises(errors.ClientError) as caught:
        await client.models.generate_content(model=MODEL, contents="hi")

    assert (caught.value.code, caught.value.status, caught.value.message) == (429, "RESOURCE_EXHAUSTED", "quota")
    [retry_info] = caught.value.details["error"]["details"]
    assert retry_info["retryDelay"] == "3s"


async def test_wrong_key_is_unauthenticated(upstream: FakeUpstream) -> None:
    client = make_client(upstream, api_key="wrong-key")
    try:
        with pytest.raises(errors.ClientError) as caught:
            await client.aio.models.generate_content(model=MODEL, contents="hi")
    finally:
        await client.aio.aclose()

    assert (caught.value.code, caught.value.status) == (401, "UNAUTHENTICATED")
    assert "wrong-key" not in str(caught.value)


async def test_context_length_error_shape(upstream: FakeUpstream, client: genai.client.AsyncClient) -> None:
    upstream.script(Fault(error_code="context_length_exceeded"))

    with pytest.raises(errors.ClientError) as caught:
        await client.models.generate_content(model=MODEL, contents="long")

    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert "exceeds the maximum number of tokens" in (caught.value.message or "")


@pytest.mark.parametrize(("status", "name"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
async def test_server_errors(upstream: FakeUpstream, client: genai.client.AsyncClient, status: int, name: str) -> None:
    upstream.script(Fault(status=status))

    with pytest.raises(errors.ServerError) as caught:
        await client.models.generate_content(model=MODEL, contents="hi")

    assert (caught.value.code, caught.value.status) == (status, name)


async def test_models_list(upstream: FakeUpstream, client: genai.client.AsyncClient) -> None:
    names = [model.name async for model in await client.models.list()]

    assert f"models/{MODEL}" in names
    assert upstream.requests[0].api == "google"
