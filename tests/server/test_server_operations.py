"""Operations: /healthz, /readyz, /metrics, /openapi.json; and real responses checked against the
response models the OpenAPI document is generated from, so code and document cannot drift apart."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from pydantic import BaseModel
from server_support import ADMIN_KEY, Served, auth, serving

from agentrt.server import ApiKeys, openapi_document
from agentrt.server.admin_routes import Health, Readiness, ReloadReport
from agentrt.server.app import server_routes
from agentrt.server.openai_models import (
    ChatCompletion,
    ChatCompletionChunk,
    EmbeddingList,
    ErrorResponse,
    Model,
    ModelList,
)
from agentrt.server.routing import Route, ServerContext
from agentrt.testing import FakeUpstream, Reply


async def get_json(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with http.get(url, **kwargs) as response:
        return response.status, await response.json()


async def test_healthz_answers_ok(served: Served, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, served.url + "/healthz")
    assert status == 200
    Health.model_validate(body)


async def test_readyz_lists_the_services_and_the_config_version(served: Served, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, served.url + "/readyz")
    assert status == 200
    ready = Readiness.model_validate(body)
    assert ready.status == "ready"
    assert ready.config_version == 1
    assert {"calls", "providers", "server_api_keys"} <= set(ready.services)
    assert all(s.state == "running" and s.healthy for s in ready.services.values())


async def test_readyz_is_503_once_a_shutdown_was_asked_for(served: Served, http: aiohttp.ClientSession) -> None:
    served.rt.request_shutdown()
    status, body = await get_json(http, served.url + "/readyz")
    assert status == 503
    assert Readiness.model_validate(body).reason == "shutting down"


class Unhealthy:
    def health(self) -> bool:
        return False


async def test_readyz_is_503_when_a_service_is_unhealthy(served: Served, http: aiohttp.ClientSession) -> None:
    async def sick() -> AsyncIterator[Unhealthy]:
        yield Unhealthy()

    await served.rt.services.add(sick)
    status, body = await get_json(http, served.url + "/readyz")
    assert status == 503
    assert "sick" in Readiness.model_validate(body).reason  # type: ignore[operator]


async def test_metrics_count_requests_by_route_template_and_status(served: Served, http: aiohttp.ClientSession) -> None:
    for path in ("/v1/models/default", "/v1/models/gpt-test", "/v1/models/nope", "/no/such/route"):
        async with http.get(served.url + path, headers=auth()):
            pass
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(served.url + "/v1/chat/completions", json=body, headers=auth()) as response:
        assert response.status == 200
    async with http.get(served.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    assert _sample(text, "agentrt_http_requests_total", route="/v1/models/{model}", method="GET", status="200") == 2
    assert _sample(text, "agentrt_http_requests_total", route="/v1/models/{model}", method="GET", status="404") == 1
    assert _sample(text, "agentrt_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert _sample(text, "agentrt_http_requests_total", route="/v1/chat/completions", method="POST", status="200") == 1
    assert _sample(text, "agentrt_http_request_seconds_count", route="/v1/chat/completions", method="POST") == 1
    assert "/v1/models/default" not in text  # raw paths never become labels
    assert 'agentrt_model_calls_total{model="gpt-test"' in text  # the call metrics share the registry


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}{{(.*)}} (\S+)", line)
        if match and dict(re.findall(r'(\w+)="([^"]*)"', match.group(1))) == labels:
            return float(match.group(2))
    raise AssertionError(f"no sample {name}{labels}")


async def test_metrics_answer_404_when_disabled(up: FakeUpstream, tmp_path: Path) -> None:
    async with (
        serving(up, tmp_path, observability={"metrics": {"enabled": False}}) as s,
        aiohttp.ClientSession() as http,
    ):
        status, body = await get_json(http, s.url + "/metrics")
    assert status == 404
    assert "observability.metrics.enabled" in body["error"]["message"]


async def test_metrics_need_the_token_when_one_is_set(
    up: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server_support import server_config

    from agentrt import Runtime
    from agentrt.server import HttpServer

    monkeypatch.setenv("SCRAPE_TOKEN", "scrape-s3cret")
    config = server_config(up, tmp_path)
    config["server"]["metrics_token"] = "${SCRAPE_TOKEN}"
    path = tmp_path / "agentrt.yaml"
    path.write_bytes(orjson.dumps(config))  # JSON is YAML; read from a file, as `agentrt serve` does
    async with Runtime.open(path, plugins=False) as rt, aiohttp.ClientSession() as http:
        server = HttpServer(rt, port=0)
        await server.start()
        try:
            url = server.url + "/metrics"
            for headers in ({}, {"Authorization": "Bearer wrong"}, auth(ADMIN_KEY), {"Authorization": "scrape-s3cret"}):
                async with http.get(url, headers=headers) as response:
                    assert response.status == 401, headers
                    error = (await response.json())["error"]
                    assert error["code"] == "invalid_metrics_token"
                    assert "scrape-s3cret" not in error["message"]
            async with http.get(url, headers={"Authorization": "Bearer scrape-s3cret"}) as response:
                assert response.status == 200
                assert "agentrt_http_requests_total" in await response.text()
        finally:
            await server.stop(1.0)


async def test_metrics_stay_open_without_a_token(served: Served, http: aiohttp.ClientSession) -> None:
    async with http.get(served.url + "/metrics") as response:
        assert response.status == 200


# --- the OpenAPI document -----------------------------------------------------------------------


async def test_the_openapi_document_describes_every_route(served: Served, http: aiohttp.ClientSession) -> None:
    status, document = await get_json(http, served.url + "/openapi.json")
    assert status == 200
    assert document["openapi"] == "3.1.0"
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations == {(r.method, r.path) for r in routes_of(served) if r.in_openapi}  # not the dashboard's pages
    assert ("POST", "/v1/chat/completions") in operations
    assert ("GET", "/v1/models/{model}") in operations
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["security"] == [{"apiKey": []}]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletionRequest"
    }
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {"400", "401", "403", "404", "413", "429", "500", "502", "503", "504"} <= set(chat["responses"])
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert document["paths"]["/admin/reload"]["post"]["security"] == [{"apiKey": []}]
    schemas = document["components"]["schemas"]
    assert {"ChatCompletionRequest", "ChatCompletion", "ChatCompletionChunk", "ErrorResponse"} <= set(schemas)
    for ref in re.findall(r'"\$ref":"([^"]+)"', orjson.dumps(document).decode()):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def routes_of(served: Served) -> list[Route]:
    return server_routes(ServerContext(served.rt, served.rt.services.get(ApiKeys)))


def test_the_document_is_generated_from_the_route_declarations(served: Served) -> None:
    routes = routes_of(served)
    document = openapi_document(routes)
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations == {(r.method, r.path) for r in routes}
    assert len({r.name for r in routes}) == len(routes)  # operation ids are unique


# --- real responses against the response models ----------------------------------------------------


def strict(model: type[BaseModel], body: Any) -> None:
    model.model_validate(body, strict=False)  # the models forbid extra fields: an undocumented key fails here


async def test_real_responses_match_their_documented_models(served: Served, http: aiohttp.ClientSession) -> None:
    served.up.script(Reply(text="hello"), Reply(tool_calls=[("f", {"a": 1})]))
    chat = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    async with http.post(served.url + "/v1/chat/completions", json=chat, headers=auth()) as response:
        strict(ChatCompletion, await response.json())
    async with http.post(served.url + "/v1/chat/completions", json={**chat, "tools": tools}, headers=auth()) as r:
        strict(ChatCompletion, await r.json())
    stream = {**chat, "stream": True, "stream_options": {"include_usage": True}}
    async with http.post(served.url + "/v1/chat/completions", json=stream, headers=auth()) as response:
        events = (await response.text()).split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    for event in events[:-2]:
        strict(ChatCompletionChunk, orjson.loads(event.removeprefix("data: ")))
    for encoding in ("float", "base64"):
        body = {"model": "embedder", "input": ["a", "b"], "encoding_format": encoding}
        async with http.post(served.url + "/v1/embeddings", json=body, headers=auth()) as response:
            strict(EmbeddingList, await response.json())
    strict(ModelList, (await get_json(http, served.url + "/v1/models", headers=auth()))[1])
    strict(Model, (await get_json(http, served.url + "/v1/models/default", headers=auth()))[1])
    strict(ErrorResponse, (await get_json(http, served.url + "/v1/models/nope", headers=auth()))[1])
    async with http.post(served.url + "/admin/reload", headers=auth(ADMIN_KEY)) as response:
        strict(ReloadReport, await response.json())


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_operations_answers_match_their_models(served: Served, http: aiohttp.ClientSession, path: str) -> None:
    status, body = await get_json(http, served.url + path)
    assert status == 200
    strict(Health if path == "/healthz" else Readiness, body)
