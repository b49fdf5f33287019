"""The fake's routes for Azure OpenAI, Bedrock, Vertex AI and Ollama, and their credential checks.

Each reuses the request path of :mod:`agentrt.testing._server` (record, check,
take the script, answer in the format) with its own dialect; what differs is
how a request proves who sent it:

- Azure: the ``api-key`` header or an Entra ID bearer token (checked against
  the fake's ``api_key`` when it has one), and ``api-version`` in the query of
  a deployment URL (without it Azure answers 404);
- Bedrock: a SigV4 signature, recomputed here from the request as received, or
  a Bedrock API key as a bearer token (the fake's ``api_key`` when it has one);
- Vertex: a bearer token the fake's token endpoint issued to a trusted
  service account (or the fake's ``api_key``);
- Ollama: none.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agentrt.testing._azure import AzureDialect
from agentrt.testing._bedrock import BedrockDialect
from agentrt.testing._ollama import OllamaDialect
from agentrt.testing._script import normal_model
from agentrt.testing._strict import Invalid
from agentrt.testing._vertex import VertexDialect, grant_token
from agentrt.testing._writers import json_response

if TYPE_CHECKING:
    from agentrt.testing._server import UpstreamState, _Incoming

__all__ = ["TOKEN_PATH", "access_problem", "add_cloud_routes", "strict_problem"]

TOKEN_PATH = "/token"
_AZURE, _BEDROCK, _VERTEX, _OLLAMA = AzureDialect(), BedrockDialect(), VertexDialect(), OllamaDialect()


def add_cloud_routes(app: web.Application, state: UpstreamState) -> None:
    from agentrt.testing import _server as server

    async def azure_chat(request: web.Request) -> web.StreamResponse:
        incoming = await server._read(request, _AZURE)
        incoming.path_model = request.match_info.get("deployment")
        return await server._chat(state, incoming)

    async def azure_embeddings(request: web.Request) -> web.StreamResponse:
        incoming = await server._read(request, _AZURE)
        deployment = request.match_info.get("deployment")
        incoming.path_model = deployment
        if deployment and isinstance(incoming.body, dict):
            incoming.body.setdefault("model", deployment)
        return await server._embeddings(
            state, incoming, "embeddings", lambda: _AZURE.parse_embed(incoming.body), _AZURE.render_embeddings
        )

    async def azure_models(request: web.Request) -> web.StreamResponse:
        incoming = await server._read(request, _AZURE)
        denied = server._record_and_check(state, incoming)
        return denied or json_response(200, _AZURE.render_models(state.model_names("openai")))

    async def bedrock_converse(request: web.Request) -> web.StreamResponse:
        incoming = await server._read(request, _BEDROCK)
        incoming.path_model = request.match_info["model_id"]
        incoming.streaming_path = request.match_info["operation"] == "converse-stream"
        if request.match_info["operation"] not in ("converse", "converse-stream"):
            server._record(state, incoming)
            return server._refuse(
                incoming, 404, {"message": "Not Found"}, {"x-amzn-ErrorType": "UnknownOperationException"}
            )
        return await server._chat(state, incoming)

    async def vertex_model_method(request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        incoming = await server._read(request, _VERTEX)
        incoming.path_model = normal_model(model)
        incoming.streaming_path = method == "streamGenerateContent"
        if method in ("generateContent", "streamGenerateContent"):
            return await server._chat(state, incoming)
        server._record(state, incoming)
        return json_response(404, _VERTEX.error(404, f"Method '{method}' is not served by the fake upstream.", None))

    async def token(request: web.Request) -> web.StreamResponse:
        form = {key: str(value) for key, value in (await request.post()).items()}
        status, body = grant_token(form, str(request.url.with_query(None)), state.service_accounts, state.issued_tokens)
        return json_response(status, body)

    async def ollama_chat(request: web.Request) -> web.StreamResponse:
        incoming = await server._read(request, _OLLAMA)
        incoming.streaming_path = isinstance(incoming.body, dict) and incoming.body.get("stream", True) is not False
        return await server._chat(state, incoming)

    async def ollama_embed(request: web.Request) -> web.StreamResponse:
        incoming = await server._read(request, _OLLAMA)
        return await server._embeddings(
            state, incoming, "embeddings", lambda: _OLLAMA.parse_embed(incoming.body), _OLLAMA.render_embeddings
        )

    async def ollama_tags(request: web.Request) -> web.StreamResponse:
        incoming = await server._read(request, _OLLAMA)
        server._record(state, incoming)
        return json_response(200, _OLLAMA.render_models(state.model_names("ollama")))

    app.router.add_post("/openai/deployments/{deployment}/chat/completions", azure_chat)
    app.router.add_post("/openai/deployments/{deployment}/embeddings", azure_embeddings)
    app.router.add_post("/openai/v1/chat/completions", azure_chat)
    app.router.add_post("/openai/v1/embeddings", azure_embeddings)
    app.router.add_get("/openai/models", azure_models)
    app.router.add_get("/openai/v1/models", azure_models)
    app.router.add_post("/model/{model_id}/{operation}", bedrock_converse)
    for version in ("v1", "v1beta1"):
        app.router.add_post(
            f"/{version}/projects/{{project}}/locations/{{location}}/publishers/google/models/{{target}}",
            vertex_model_method,
        )
    app.router.add_post(TOKEN_PATH, token)
    app.router.add_post("/api/chat", ollama_chat)
    app.router.add_post("/api/embed", ollama_embed)
    app.router.add_get("/api/tags", ollama_tags)


def access_problem(
    state: UpstreamState, incoming: _Incoming
) -> tuple[int, dict[str, Any], dict[str, str] | None] | None:
    """Why the request's credentials (or Azure's api-version) would be refused: (status, body, headers)."""
    request, api = incoming.request, incoming.dialect.api
    if api == "azure":
        if state.api_key is not None and not _AZURE.authorized(request.headers, request.query, state.api_key):
            return (*_AZURE.auth_error(), None)
        if "/deployments/" in request.path and not request.query.get("api-version"):
            return (*_AZURE.not_found(), None)
        return None
    if api == "bedrock":
        from agentrt.testing._strict_bedrock import check_signature

        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):  # a Bedrock API key instead of a signature
            if state.api_key is None or hmac.compare_digest(authorization, f"Bearer {state.api_key}"):
                return None
            message = "Authentication failed: Please make sure your API Key is valid."
            return 403, {"message": message}, {"x-amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/"}

        headers = {name.lower(): value for name, value in request.headers.items()}
        refused = check_signature(
            request.method, request.raw_path, headers, request.headers, incoming.raw, state.aws_keys
        )
        if refused is None:
            return None
        status, kind, message = refused
        return (
            status,
            {"message": message},
            {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.coral.service/"},
        )
    if api == "vertex":
        authorization = request.headers.get("authorization", "")
        token = authorization.removeprefix("Bearer ")
        if token in state.issued_tokens or (
            state.api_key is not None and _VERTEX.authorized(request.headers, request.query, state.api_key)
        ):
            return None
        return (*_VERTEX.auth_error(), None)
    return None


def strict_problem(state: UpstreamState, incoming: _Incoming, kind: str) -> Invalid | None:
    """Why the real API would refuse this body (Azure as OpenAI, Bedrock by botocore's model, Ollama by its docs)."""
    body, api = incoming.body, incoming.dialect.api
    if api == "azure":
        from agentrt.testing._strict_openai import check_openai_chat, check_openai_embeddings

        filled = {**body, "model": body.get("model") or incoming.path_model}
        return check_openai_chat(filled) if kind == "chat" else check_openai_embeddings(filled)
    if api == "bedrock":
        from agentrt.testing._strict_bedrock import check_converse

        return check_converse(body, incoming.path_model or "", state.ledger)
    from agentrt.testing._strict_ollama import check_ollama_chat, check_ollama_embed

    return check_ollama_chat(body) if kind == "chat" else check_ollama_embed(body)
