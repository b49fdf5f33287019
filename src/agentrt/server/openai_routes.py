"""The OpenAI-compatible endpoints: chat completions (plain and streamed), embeddings, models.

Every call goes through ``rt.calls`` with the principal of the request's API
key, so policies, budgets, fallbacks, metrics and the call log apply as for
any other caller. Tools are offered to the model and its tool calls returned;
the server runs no tool loop (the client owns its tools).

A streamed completion starts its response only once the first event is there:
an error before it (an unknown model, a denial, a failed upstream) is an
ordinary JSON error with its status. An error after it can only be told in the
stream: one ``data: {"error": {...}}`` event, as OpenAI does, and no
``[DONE]``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import structlog
from aiohttp import web

from agentrt.cache._key import cache_control
from agentrt.calls.principal import Principal
from agentrt.server.errors import describe_error, error_body
from agentrt.server.model_kinds import ModelKinds
from agentrt.server.openai_convert import (
    ChatCall,
    ChunkWriter,
    chat_call,
    completion_body,
    embedding_body,
    embedding_call,
    new_completion_id,
)
from agentrt.server.openai_models import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    Model,
    ModelList,
)
from agentrt.server.requests import REQUEST_ID
from agentrt.server.routing import Route, ServerContext, principal_of
from agentrt.server.sse import ClientGone, EventStream
from agentrt.server.validation import parse_body
from agentrt.types import Completed, Completion, RefusalDelta, TextDelta, ToolCallDelta

__all__ = ["OpenAIRoutes"]

_log = structlog.get_logger("agentrt.server")

_JSON = "application/json"

def _json(body: Any, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type=_JSON, headers=headers)


def _call_headers(completion: Completion) -> dict[str, str]:
    # Which model and provider answered (after fallbacks), and the cost: what a gateway's user asks first.
    headers = {
        "x-agentrt-model": completion.model,
        "x-agentrt-provider": completion.provider,
    }
    if completion.cost is not None:
        headers["x-agentrt-cost-usd"] = f"{completion.cost:.10f}"
    return headers


class OpenAIRoutes:
    """The handlers of ``/v1/chat/completions``, ``/v1/embeddings`` and ``/v1/models``."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        # Whether a model's provider keeps reasoning state in tool calls (then streamed tool calls
        # are held back until their ids are complete), per model and configuration version.
        self._kinds = ModelKinds(ctx.rt)

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/chat/completions",
                self.chat_completions,
                "createChatCompletion",
                "Create a chat completion",
                "openai",
                scope="chat",
                body=ChatCompletionRequest,
                responses={200: ChatCompletion},
                events=ChatCompletionChunk,
                errors=(400, 401, 403, 404, 408, 413, 429, 502, 503, 504),
                description="OpenAI's Chat Completions, served through the runtime's policies and fallbacks. "
                "With `stream: true` the answer is server-sent `chat.completion.chunk` events, then `[DONE]`.",
            ),
            Route(
                "POST",
                "/v1/embeddings",
                self.embeddings,
                "createEmbedding",
                "Create embeddings",
                "openai",
                scope="embeddings",
                body=EmbeddingRequest,
                responses={200: EmbeddingList},
                errors=(400, 401, 403, 404, 408, 413, 429, 502, 503, 504),
            ),
            Route(
                "GET",
                "/v1/models",
                self.list_models,
                "listModels",
                "List the models and aliases",
                "openai",
                responses={200: ModelList},
                errors=(401,),
            ),
            Route(
                "GET",
                "/v1/models/{model}",
                self.get_model,
                "retrieveModel",
                "Retrieve a model or alias",
                "openai",
                responses={200: Model},
                errors=(401, 404),
            ),
        ]

    # --- chat completions ------------------------------------------------------------------

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(ChatCompletionRequest, await request.read())
        call = chat_call(body)
        principal = principal_of(request)
        cache = cache_control(request.headers.get("Cache-Control"))  # no-cache: write only; no-store: neither
        if cache is not None:
            call.options["cache"] = cache
        if call.stream:
            return await self._stream(request, call, principal)
        completion = await self._ctx.rt.calls.generate(call.model, call.messages, principal=principal, **call.options)
        return _json(completion_body(completion, new_completion_id()), headers=_call_headers(completion))

    async def _stream(self, request: web.Request, call: ChatCall, principal: Principal) -> web.StreamResponse:
        events = self._ctx.rt.calls.stream(call.model, call.messages, principal=principal, **call.options)
        # The first event decides between a JSON error (nothing sent yet) and a stream.
        first = await anext(events)
        completion_id = new_completion_id()
        writer = ChunkWriter(
            completion_id,
            call.model,
            include_usage=call.include_usage,
            hold_tool_calls=self._kinds.keeps_reasoning(call.model),
        )
        stream = EventStream(request)
        try:
            await stream.open()
            pending = writer.role()
            event = first
            while True:
                if isinstance(event, TextDelta):
                    await stream.write(pending + writer.text(event.text))
                elif isinstance(event, ToolCallDelta):
                    out = pending + writer.tool_call(event)  # nothing while the calls are held back
                    if out:
                        await stream.write(out)
                elif isinstance(event, RefusalDelta):
                    await stream.write(pending + writer.refusal(event.text))
                elif isinstance(event, Completed):
                    await stream.write(pending + writer.finish(event.completion))
                    break
                pending = b""
                event = await anext(events)
        except ClientGone:
            _log.info("http_stream_abandoned", route="/v1/chat/completions", reason="the client disconnected")
        except Exception as exc:  # after the headers, an error can only be an event
            info = describe_error(exc)
            if stream.opened:
                with contextlib.suppress(ClientGone):
                    await stream.write(b"data: " + error_body(info, request.get(REQUEST_ID)) + b"\n\n")
            else:
                raise
        finally:
            await _close(events)
        return await stream.close()

    # --- embeddings ----------------------------------------------------------------------------

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(EmbeddingRequest, await request.read())
        texts, params = embedding_call(body)
        result = await self._ctx.rt.calls.embed(body.model, texts, principal=principal_of(request), params=params)
        return _json(embedding_body(result, base64_floats=body.encoding_format == "base64"))

    # --- models ----------------------------------------------------------------------------------

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        data: list[dict[str, Any]] = []
        for spec in self._ctx.rt.models.specs():
            data.append(_model_object(spec.name, spec.provider))
            data.extend(_model_object(alias, spec.provider) for alias in spec.aliases)
        return _json({"object": "list", "data": data})

    async def get_model(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["model"]
        spec = self._ctx.rt.models.resolve(ref)  # UnknownModel: 404
        return _json(_model_object(ref, spec.provider))


async def _close(events: object) -> None:
    # rt.calls.stream is an async generator: closing it releases the call's reservation at once.
    closer = getattr(events, "aclose", None)
    if closer is not None:
        await closer()


def _model_object(name: str, provider: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": provider}
