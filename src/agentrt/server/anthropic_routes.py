"""The Anthropic-compatible endpoints: ``POST /v1/messages`` (plain and streamed) and ``count_tokens``.

The anthropic SDK and Claude Code (``ANTHROPIC_BASE_URL`` pointed at the
server) talk to any configured model through them: every call goes through
``rt.calls`` with the principal of the request's API key (``x-api-key`` or
``Authorization: Bearer``), so policies, budgets, fallbacks, the ledger and
metrics apply as on ``/v1/chat/completions``. The ``anthropic-version`` header
is accepted and not needed. Errors come in Anthropic's shape
(``{"type": "error", "error": {"type", "message"}}``), with the statuses the
SDK maps to its exceptions.

A stream starts only once the first event is there: an error before it is an
ordinary error answer with its status; after it, an ``error`` event.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import structlog
from aiohttp import web

from agentrt.calls.principal import Principal
from agentrt.models import estimate_tokens
from agentrt.server.anthropic_answer import anthropic_error_body, anthropic_error_event, message_body, new_message_id
from agentrt.server.anthropic_convert import MessagesCall, count_call, messages_call
from agentrt.server.anthropic_events import MessageStreamWriter
from agentrt.server.anthropic_models import (
    AnthropicError,
    AnthropicMessage,
    AnthropicStreamEvent,
    CountTokensRequest,
    MessagesRequest,
    TokenCount,
)
from agentrt.server.errors import describe_error
from agentrt.server.model_kinds import ModelKinds
from agentrt.server.requests import REQUEST_ID
from agentrt.server.routing import ErrorShape, Route, ServerContext, principal_of
from agentrt.server.sse import ClientGone, EventStream
from agentrt.server.validation import parse_body
from agentrt.types import Completed, Completion, RefusalDelta, TextDelta, ToolCallDelta

__all__ = ["ANTHROPIC_ERRORS", "AnthropicRoutes"]

_log = structlog.get_logger("agentrt.server")

ANTHROPIC_ERRORS = ErrorShape(anthropic_error_body, AnthropicError)
"""Anthropic's error shape, for the routes the anthropic SDK calls."""


def _json(body: Any, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)


def call_headers(completion: Completion) -> dict[str, str]:
    """Which model and provider answered (after fallbacks), and the cost."""
    headers = {"x-agentrt-model": completion.model, "x-agentrt-provider": completion.provider}
    if completion.cost is not None:
        headers["x-agentrt-cost-usd"] = f"{completion.cost:.10f}"
    return headers


async def close_events(events: object) -> None:
    """Close a ``rt.calls.stream`` generator: its reservation is settled at once."""
    closer = getattr(events, "aclose", None)
    if closer is not None:
        await closer()


class AnthropicRoutes:
    """The handlers of ``/v1/messages`` and ``/v1/messages/count_tokens``."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._kinds = ModelKinds(ctx.rt)

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/messages",
                self.messages,
                "createMessage",
                "Create a message (Anthropic's Messages API)",
                "anthropic",
                scope="chat",
                body=MessagesRequest,
                responses={200: AnthropicMessage},
                events=AnthropicStreamEvent,
                errors=(400, 401, 403, 404, 408, 413, 429, 502, 503, 504),
                description="Anthropic's Messages API for any configured model, through the runtime's policies "
                "and fallbacks; authenticate with `x-api-key` or `Authorization: Bearer`. With `stream: true` "
                "the answer is Anthropic's server-sent events (`message_start` ... `message_stop`).",
                error_shape=ANTHROPIC_ERRORS,
            ),
            Route(
                "POST",
                "/v1/messages/count_tokens",
                self.count_tokens,
                "countMessageTokens",
                "Count the input tokens of a message request (an estimate; no model is called)",
                "anthropic",
                scope="chat",
                body=CountTokensRequest,
                responses={200: TokenCount},
                errors=(400, 401, 403, 404, 408, 413),
                error_shape=ANTHROPIC_ERRORS,
            ),
        ]

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(MessagesRequest, await request.read())
        kind = self._kinds.kind(body.model)
        call = messages_call(body, kind)
        principal = principal_of(request)
        if call.stream:
            return await self._stream(request, call, principal, kind)
        completion = await self._ctx.rt.calls.generate(call.model, call.messages, principal=principal, **call.options)
        answer = message_body(completion, new_message_id(), refusal_as_text=kind != "anthropic")
        return _json(answer, headers=call_headers(completion))

    async def _stream(
        self, request: web.Request, call: MessagesCall, principal: Principal, kind: str | None
    ) -> web.StreamResponse:
        events = self._ctx.rt.calls.stream(call.model, call.messages, principal=principal, **call.options)
        stream = EventStream(request)
        try:
            # The first event decides between an error answer (nothing sent yet) and a stream.
            event = await anext(events)
            writer = MessageStreamWriter(
                new_message_id(),
                call.model,
                hold_tool_calls=self._kinds.keeps_reasoning(call.model),
                refusal_as_text=kind != "anthropic",
            )
            await stream.open()
            pending = writer.start()
            while True:
                out = pending
                if isinstance(event, TextDelta | RefusalDelta):
                    out += writer.text(event.text)
                elif isinstance(event, ToolCallDelta):
                    out += writer.tool_call(event)
                elif isinstance(event, Completed):
                    await stream.write(pending + writer.finish(event.completion))
                    break
                if out:
                    await stream.write(out)
                pending = b""
                event = await anext(events)
        except ClientGone:
            _log.info("http_stream_abandoned", route="/v1/messages", reason="the client disconnected")
        except Exception as exc:  # after the headers, an error can only be an event
            if not stream.opened:
                raise
            with contextlib.suppress(ClientGone):
                await stream.write(anthropic_error_event(describe_error(exc), request.get(REQUEST_ID)))
        finally:
            await close_events(events)
        return await stream.close()

    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(CountTokensRequest, await request.read())
        self._ctx.rt.models.resolve(body.model)  # an unknown model: 404, as a call would say
        messages, tools = count_call(body)
        return _json({"input_tokens": estimate_tokens(messages, tools)})
