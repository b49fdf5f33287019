"""The fake's aiohttp application: routing, recording, auth, scripted replies and faults.

Every chat or embedding request takes one item from the script: a :class:`Reply`
is rendered by the format module of the endpoint, a :class:`Fault` is applied
here, because faults live below the wire format (closing the transport,
cutting a stream, sending a body that is not JSON).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from agentrt.testing._anthropic import AnthropicDialect
from agentrt.testing._google import GoogleDialect
from agentrt.testing._neutral import Answer, ChatCall, Dialect, EmbedCall, IdMint, Rejection, build_answer
from agentrt.testing._openai import OpenAIDialect
from agentrt.testing._reasoning import ReasoningLedger
from agentrt.testing._recorded import Recorded
from agentrt.testing._script import Fault, RecordedRequest, Reply, ScriptBook, ScriptItem, normal_model
from agentrt.testing._strict import Invalid
from agentrt.testing._writers import close_connection, json_response, write_cut, write_recorded, write_stream

__all__ = ["UpstreamState", "build_app"]

_DEFAULT_MODELS = {
    "openai": ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"],
    "anthropic": ["claude-haiku-4-5", "claude-sonnet-4-5"],
    "google": ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-embedding-001"],
    "ollama": ["llama3.2", "qwen3", "nomic-embed-text"],
}


_NOT_JSON = "The request body is not valid JSON: send a JSON object."
# The formats whose credentials are checked by _cloud_routes, not as an API key.
CLOUD_APIS = frozenset({"azure", "bedrock", "vertex", "ollama"})


class UpstreamState:
    """What the application shares with its FakeUpstream: the script, the record, the settings."""

    def __init__(
        self,
        *,
        api_key: str | None,
        embedding_dim: int,
        lenient: bool = False,
        aws_keys: Mapping[str, str] | None = None,
    ) -> None:
        self.api_key = api_key
        # Bedrock: access key id -> secret, to verify SigV4 signatures; Vertex: the service accounts trusted
        # (email -> public key PEM) and the access tokens the fake token endpoint issued.
        self.aws_keys: dict[str, str] = dict(aws_keys or {})
        self.service_accounts: dict[str, bytes] = {}
        self.issued_tokens: set[str] = set()
        self.embedding_dim = embedding_dim
        self.lenient = lenient
        self.ledger = ReasoningLedger()
        self.script = ScriptBook()
        self.requests: list[RecordedRequest] = []
        self.mint = IdMint()

    def model_names(self, api: str) -> list[str]:
        names = list(_DEFAULT_MODELS.get(api, ()))
        return names + [m for m in self.script.scripted_models() if m not in names]


@dataclass(slots=True)
class _Incoming:
    """A request as read: its decoded body (None when absent or not JSON) and where it went."""

    request: web.Request
    dialect: Dialect
    body: Any
    body_is_json: bool
    raw: bytes = b""
    path_model: str | None = None
    streaming_path: bool = False
    recorded: RecordedRequest | None = None


@dataclass(slots=True)
class _Outcome:
    """A successful answer on the wire: a JSON body, or the SSE frames of a stream."""

    body: bytes | None = None
    frames: list[bytes] | None = None


def build_app(state: UpstreamState) -> web.Application:
    openai, anthropic, google = OpenAIDialect(), AnthropicDialect(), GoogleDialect()
    app = web.Application(client_max_size=64 * 1024 * 1024)

    async def openai_chat(request: web.Request) -> web.StreamResponse:
        return await _chat(state, await _read(request, openai))

    async def openai_embeddings(request: web.Request) -> web.StreamResponse:
        incoming = await _read(request, openai)
        return await _embeddings(
            state, incoming, "embeddings", lambda: openai.parse_embed(incoming.body), openai.render_embeddings
        )

    async def list_models(request: web.Request) -> web.StreamResponse:
        # The three formats share this path (Gemini's SDK defaults to /v1 too): tell them apart
        # by the headers only their clients send.
        if "anthropic-version" in request.headers:
            incoming = await _read(request, anthropic)
            denied = _record_and_check(state, incoming)
            return denied or json_response(200, anthropic.render_models(state.model_names("anthropic")))
        if _is_google(request):
            return await google_models(request)
        incoming = await _read(request, openai)
        denied = _record_and_check(state, incoming)
        return denied or json_response(200, openai.render_models(state.model_names("openai")))

    async def anthropic_messages(request: web.Request) -> web.StreamResponse:
        return await _chat(state, await _read(request, anthropic))

    async def google_models(request: web.Request) -> web.StreamResponse:
        incoming = await _read(request, google)
        denied = _record_and_check(state, incoming)
        return denied or json_response(200, google.render_models(state.model_names("google")))

    async def google_model_method(request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        incoming = await _read(request, google)
        incoming.path_model = normal_model(model)
        incoming.streaming_path = method == "streamGenerateContent"
        if method in ("generateContent", "streamGenerateContent"):
            return await _chat(state, incoming)
        if method in ("embedContent", "batchEmbedContents"):
            batch = method == "batchEmbedContents"
            return await _embeddings(
                state,
                incoming,
                "batch-embeddings" if batch else "embeddings",
                lambda: google.parse_embed(incoming.body, incoming.path_model or "", batch),
                lambda call, dim, tokens: google.render_embeddings(call, dim, batch),
            )
        _record(state, incoming)
        message = f"Method '{method or request.match_info['target']}' is not served by the fake upstream."
        return json_response(404, google.error(404, message, None))

    app.router.add_post("/v1/chat/completions", openai_chat)
    app.router.add_post("/v1/embeddings", openai_embeddings)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/messages", anthropic_messages)
    for version in ("v1beta", "v1"):  # the google-genai SDK now defaults to v1; the REST docs say v1beta
        app.router.add_post(f"/{version}/models/{{target}}", google_model_method)
    app.router.add_get("/v1beta/models", google_models)
    from agentrt.testing._cloud_routes import add_cloud_routes

    add_cloud_routes(app, state)
    return app


def _is_google(request: web.Request) -> bool:
    headers = request.headers
    return "x-goog-api-key" in headers or "x-goog-api-client" in headers or "key" in request.query


# --- the request's path through the fake ---------------------------------------


async def _read(request: web.Request, dialect: Dialect) -> _Incoming:
    raw = await request.read()
    if not raw:
        return _Incoming(request, dialect, None, body_is_json=False)
    try:
        return _Incoming(request, dialect, orjson.loads(raw), body_is_json=True, raw=raw)
    except orjson.JSONDecodeError:
        return _Incoming(request, dialect, None, body_is_json=False, raw=raw)


def _record(state: UpstreamState, incoming: _Incoming) -> None:
    request, body = incoming.request, incoming.body
    stream = incoming.streaming_path or bool(isinstance(body, dict) and body.get("stream"))
    incoming.recorded = RecordedRequest(
        api=incoming.dialect.api,
        path=request.path,
        model=incoming.dialect.request_model(body, incoming.path_model),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        stream=stream,
        query=dict(request.query),
    )
    state.requests.append(incoming.recorded)


def _refuse(
    incoming: _Incoming, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> web.Response:
    """Answer an error the request caused, and note on its record why it was refused."""
    if incoming.recorded is not None:
        incoming.recorded.rejection = _error_message(body)
    error_headers = getattr(incoming.dialect, "error_headers", None)
    if headers is None and error_headers is not None:
        headers = error_headers(status, None)
    return json_response(status, body, headers)


def _error_message(body: dict[str, Any]) -> str:
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else error  # Ollama: {"error": "..."}
    message = body.get("message") if message is None else message  # Bedrock: {"message": "..."}
    return message if isinstance(message, str) else str(body)


def _record_and_check(state: UpstreamState, incoming: _Incoming) -> web.Response | None:
    """Record the request, then refuse it if its credentials or required headers are wrong."""
    _record(state, incoming)
    dialect, request = incoming.dialect, incoming.request
    if dialect.api in CLOUD_APIS:  # their credentials are not an API key: signatures, tokens, api-version
        from agentrt.testing._cloud_routes import access_problem

        refused = access_problem(state, incoming)
        if refused is not None:
            return _refuse(incoming, *refused[:2], headers=refused[2])
        return None
    if state.api_key is not None and not dialect.authorized(request.headers, request.query, state.api_key):
        return _refuse(incoming, *dialect.auth_error())
    if isinstance(dialect, AnthropicDialect):
        missing = dialect.missing_version(request.headers)
        if missing is not None:
            return _refuse(incoming, *missing)
    return None


def _strict_problem(state: UpstreamState, incoming: _Incoming, kind: str) -> Invalid | None:
    """Why the real API would refuse this request body (None in lenient mode, or when it would accept it).

    The validators import the SDKs' types on first use, so only a FakeUpstream
    that receives a request of an API pays for that API's SDK import.
    """
    if state.lenient:
        return None
    body, api = incoming.body, incoming.dialect.api
    if not isinstance(body, dict):
        return Invalid("The request body must be a JSON object.")
    if api == "openai":
        from agentrt.testing._strict_openai import check_openai_chat, check_openai_embeddings

        return check_openai_chat(body) if kind == "chat" else check_openai_embeddings(body)
    if api == "anthropic":
        from agentrt.testing._strict_anthropic import check_anthropic_messages

        beta = bool(incoming.request.headers.get("anthropic-beta"))
        return check_anthropic_messages(body, state.ledger, beta=beta)
    if api in CLOUD_APIS and api != "vertex":
        from agentrt.testing._cloud_routes import strict_problem

        return strict_problem(state, incoming, kind)
    from agentrt.testing._strict_google import check_embed_content, check_generate_content

    if kind == "chat":
        return check_generate_content(body, incoming.path_model or "", state.ledger)
    return check_embed_content(body, batch=kind == "batch-embeddings")


def _invalid(state: UpstreamState, incoming: _Incoming, problem: Invalid) -> web.Response:
    return _refuse(incoming, 400, incoming.dialect.invalid_request(problem, state.mint.next("req_")))


def _sign(state: UpstreamState, answer: Answer, call: ChatCall, api: str, reply: Reply) -> None:
    """Sign the reasoning the real API would sign, and remember it, to check it comes back unchanged."""
    if api in ("anthropic", "bedrock") and call.thinking:
        answer.thinking = reply.thinking if reply.thinking is not None else "Let me think this through."
        answer.thinking_signature = state.ledger.sign(answer.thinking)
    elif api in ("google", "vertex") and call.model.startswith("gemini-3") and answer.tool_calls:
        answer.tool_calls[0].thought_signature = state.ledger.sign("")


async def _chat(state: UpstreamState, incoming: _Incoming) -> web.StreamResponse:
    denied = _record_and_check(state, incoming)
    if denied is not None:
        return denied
    dialect = incoming.dialect
    if not incoming.body_is_json:
        return _refuse(incoming, 400, dialect.error(400, _NOT_JSON, None))
    problem = _strict_problem(state, incoming, "chat")
    if problem is not None:
        return _invalid(state, incoming, problem)
    call = dialect.parse_chat(incoming.body, incoming.path_model, incoming.streaming_path)
    if isinstance(call, Rejection):
        return _refuse(incoming, call.status, dialect.error(call.status, call.message, None))
    chat_call = call

    def outcome(reply: Reply) -> _Outcome:
        prefix = {"anthropic": "toolu_", "bedrock": "tooluse_"}.get(dialect.api, "call_")
        answer = build_answer(reply, chat_call, tool_call_id=lambda: state.mint.next(prefix))
        _sign(state, answer, chat_call, dialect.api, reply)
        if not chat_call.stream:
            return _Outcome(body=orjson.dumps(dialect.render_reply(answer, state.mint)))
        frames = dialect.render_stream(answer, chat_call, state.mint)
        if dialect.api in ("google", "vertex") and incoming.request.query.get("alt") != "sse":
            # Without alt=sse Gemini streams one JSON array of the same responses.
            return _Outcome(body=b"[" + b",".join(f.removeprefix(b"data: ").rstrip() for f in frames) + b"]")
        return _Outcome(frames=frames)

    return await _respond(state, incoming, state.script.take(chat_call.model), chat_call, outcome)


async def _embeddings(
    state: UpstreamState,
    incoming: _Incoming,
    kind: str,
    parse: Callable[[], EmbedCall | Rejection],
    render: Callable[[EmbedCall, int, int | None], dict[str, Any]],
) -> web.StreamResponse:
    denied = _record_and_check(state, incoming)
    if denied is not None:
        return denied
    dialect = incoming.dialect
    if not incoming.body_is_json:
        return _refuse(incoming, 400, dialect.error(400, _NOT_JSON, None))
    problem = _strict_problem(state, incoming, kind)
    if problem is not None:
        return _invalid(state, incoming, problem)
    call = parse()
    if isinstance(call, Rejection):
        return _refuse(incoming, call.status, dialect.error(call.status, call.message, None))
    embed_call = call

    def outcome(reply: Reply) -> _Outcome:
        tokens = reply.usage[0] if reply.usage is not None else None
        return _Outcome(body=orjson.dumps(render(embed_call, state.embedding_dim, tokens)))

    return await _respond(state, incoming, state.script.take(embed_call.model), None, outcome)


async def _respond(
    state: UpstreamState,
    incoming: _Incoming,
    item: ScriptItem,
    call: ChatCall | None,
    outcome: Callable[[Reply], _Outcome],
) -> web.StreamResponse:
    request, dialect = incoming.request, incoming.dialect
    streaming = call is not None and call.stream
    if isinstance(item, Recorded):
        state.ledger.learn_recorded(item.body)
        return await write_recorded(request, item)
    if isinstance(item, Fault):
        if item.delay:
            await asyncio.sleep(item.delay)
        if item.drop:
            close_connection(request)
            return web.Response()  # never reaches the client: the transport is closed
        if item.malformed:
            if streaming:
                return await write_stream(request, [dialect.garbage_event()], content_type=_stream_type(dialect))
            return web.Response(status=200, body=b'{"id": "broken", "choices": [', content_type="application/json")
        if item.cut_stream_after is not None:
            cut = outcome(Reply())
            return await write_cut(request, cut.frames, cut.body, item.cut_stream_after, _stream_type(dialect))
        if item.status is not None or item.error_code is not None:
            return _fault_error(dialect, item, call)
        item = Reply()
    answer = outcome(item)
    if answer.frames is not None:
        return await write_stream(request, answer.frames, delay=item.delay, content_type=_stream_type(dialect))
    if item.delay:
        await asyncio.sleep(item.delay)
    return web.Response(status=200, body=answer.body, content_type="application/json")


def _fault_error(dialect: Dialect, fault: Fault, call: ChatCall | None) -> web.Response:
    if fault.error_code == "context_length_exceeded":
        status, body = dialect.context_length_error(call)
        status = fault.status or status
    else:
        status = fault.status or 400
        body = dialect.error(status, fault.message, fault.error_code, fault.retry_after)
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    if fault.retry_after is not None and dialect.api == "azure":  # Azure says it in milliseconds too
        headers["retry-after-ms"] = f"{round(fault.retry_after * 1000)}"
    error_headers = getattr(dialect, "error_headers", None)
    if error_headers is not None:
        headers.update(error_headers(status, fault.error_code))
    return json_response(status, body, headers or None)


def _stream_type(dialect: Dialect) -> str:
    """The content type of the dialect's streams: SSE, unless it says otherwise (NDJSON, AWS event streams)."""
    return str(getattr(dialect, "stream_content_type", "text/event-stream; charset=utf-8"))
