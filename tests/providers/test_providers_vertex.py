"""The vertex kind: Gemini's wire format on Vertex AI URLs, with bearer tokens that google-auth obtains for a
generated service account from the FakeUpstream's token endpoint (which verifies the signed JWT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from providers_cloud_support import get_weather, provider_section, runtime_config, service_account

from agentrt import Runtime
from agentrt.config import ProviderSection
from agentrt.errors import ConfigError, ProviderAuthError, ProviderBadRequest
from agentrt.providers import builtin_kinds
from agentrt.testing import FakeUpstream, Reply
from agentrt.types import ChatRequest, Completed, EmbeddingRequest, Message, TextDelta

PATH = "/v1/projects/test-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash"


def vertex_fields(up: FakeUpstream, folder: Path, *, trusted: bool = True) -> dict[str, Any]:
    return {
        "region": "europe-west4",
        "options": {"credentials_file": str(service_account(up, folder, trusted=trusted))},
    }


async def test_vertex_generate_and_stream_with_a_service_account(tmp_path: Path) -> None:
    async with FakeUpstream() as up:
        up.script(Reply(text="hi from vertex", usage=(7, 3)), Reply(text="streamed", chunk_size=3))
        config = runtime_config("vertex", up, "gemini-2.5-flash", **vertex_fields(up, tmp_path))
        async with Runtime.open(config, plugins=False) as rt:
            completion = await rt.generate("m", "hello", max_output_tokens=30)
            events = [e async for e in rt.stream("m", "hello")]
    assert completion.text == "hi from vertex"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 3)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "streamed"
    plain, stream = up.requests
    assert plain.path == PATH + ":generateContent"
    assert stream.path == PATH + ":streamGenerateContent"
    assert stream.query == {"alt": "sse"}
    assert plain.headers["authorization"].startswith("Bearer ya29.fake-")
    assert plain.headers["authorization"] == stream.headers["authorization"]  # one token, reused until it expires
    assert plain.rejection is None
    assert plain.body["generationConfig"]["maxOutputTokens"] == 30


async def test_vertex_tool_loop(tmp_path: Path) -> None:
    async with FakeUpstream() as up:
        up.script(Reply(tool_calls=[("get_weather", {"city": "Rome"})]), Reply(text="Sunny in Rome."))
        config = runtime_config("vertex", up, "gemini-2.5-flash", **vertex_fields(up, tmp_path))
        async with Runtime.open(config, plugins=False) as rt:
            events = [e async for e in rt.stream("m", "weather?", tools=[get_weather])]
    done = next(e for e in events if isinstance(e, Completed))
    assert done.completion.text == "Sunny in Rome."
    assert up.rejected == []
    turn = up.requests[1].body["contents"]
    assert turn[1]["parts"][0]["functionCall"]["name"] == "get_weather"
    assert turn[2]["parts"][0]["functionResponse"]["name"] == "get_weather"


async def test_vertex_untrusted_service_account_is_an_auth_error(tmp_path: Path) -> None:
    async with FakeUpstream() as up:
        section = ProviderSection.model_validate(
            provider_section("vertex", up, **vertex_fields(up, tmp_path, trusted=False))
        )
        vertex = builtin_kinds()["vertex"]("v", section)
        with pytest.raises(ProviderAuthError, match="invalid_grant"):
            await vertex.complete(ChatRequest(model="gemini-2.5-flash", messages=[Message.user("hi")]))
        with pytest.raises(ProviderBadRequest, match="predict"):
            await vertex.embed(EmbeddingRequest(model="text-embedding-005", inputs=["x"]))
        await vertex.aclose()
    assert up.requests == []  # no model call went out without a token


async def test_vertex_request_without_a_token_is_refused_by_the_fake() -> None:
    import aiohttp

    async with FakeUpstream() as up, aiohttp.ClientSession() as session:
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        async with session.post(up.vertex_base_url + PATH + ":generateContent", json=body) as answer:
            assert answer.status == 401
            assert (await answer.json())["error"]["status"] == "UNAUTHENTICATED"


def test_vertex_config_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="credentials_file"):
        builtin_kinds()["vertex"]("v", ProviderSection(kind="vertex", options={"credentials_file": str(missing)}))


async def test_vertex_application_default_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeUpstream() as up:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account(up, tmp_path)))
        section = ProviderSection(kind="vertex", base_url=up.url, region="global")  # no file, no project named
        vertex = builtin_kinds()["vertex"]("v", section)
        answer = await vertex.complete(ChatRequest(model="gemini-2.5-flash", messages=[Message.user("hi")]))
        await vertex.aclose()
    assert answer.text == "echo: hi"
    assert up.requests[0].path.startswith("/v1/projects/test-project/locations/global/")  # ADC named the project


def test_vertex_default_hosts(tmp_path: Path) -> None:
    with FakeUpstream.in_thread() as up:
        path = str(service_account(up, tmp_path))
    regional = builtin_kinds()["vertex"]("v", ProviderSection(kind="vertex", options={"credentials_file": path}))
    assert regional._http.display_url == "https://us-central1-aiplatform.googleapis.com"
    spread = builtin_kinds()["vertex"](
        "v", ProviderSection(kind="vertex", region="global", options={"credentials_file": path})
    )
    assert spread._http.display_url == "https://aiplatform.googleapis.com"


async def test_vertex_unreachable_token_endpoint_is_unavailable(tmp_path: Path) -> None:
    from agentrt.errors import ProviderUnavailable

    async with FakeUpstream() as up:
        path = service_account(up, tmp_path)
        token_uri = up.token_uri
    info = path.read_text().replace(token_uri, "http://127.0.0.1:9/token")  # the fake is gone: nothing listens
    path.write_text(info)
    async with FakeUpstream() as up:
        section = ProviderSection(
            kind="vertex", base_url=up.url, region="us-central1", options={"credentials_file": str(path)}
        )
        vertex = builtin_kinds()["vertex"]("v", section)
        with pytest.raises(ProviderUnavailable):
            await vertex.complete(ChatRequest(model="gemini-2.5-flash", messages=[Message.user("hi")]))
        await vertex.aclose()
    assert up.requests == []
