"""The OpenAI Responses API: ``POST /v1/responses`` (plain and streamed), ``GET`` and ``DELETE`` of a stored one.

Every call goes through ``rt.calls`` with the principal of the request's API
key, so policies, budgets, fallbacks, the ledger and metrics apply as on
``/v1/chat/completions`` (same ``chat`` scope). Any configured model serves it.

``store`` (true by default, as OpenAI) keeps the response and its
conversation in the store (:mod:`agentrt.store.responses`) before it is
answered; ``previous_response_id`` continues it. A response belongs to the
key's tenant (else its user, else the key): another owner's id is "not found".

A stream starts only once the first event is there: an error before it is an
ordinary JSON error with its status; after it, an ``error`` event and
``response.failed``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import orjson
import structlog
from aiohttp import web

from agentrt.calls.principal import Principal
from agentrt.server.anthropic_routes import call_headers, close_events
from agentrt.server.errors import HttpError, describe_error
from agentrt.server.model_kinds import ModelKinds
from agentrt.server.responses_convert import ResponsesCall, responses_call
from agentrt.server.responses_events import ResponseEventWriter
from agentrt.server.responses_models import DeletedResponse, ResponseObject, ResponsesRequest, ResponseStreamEvent
from agentrt.server.responses_output import message_of, new_id, output_items, response_object
from agentrt.server.responses_store import conversation_from_json, conversation_to_json, owner_of
from agentrt.server.routing import API_KEY, Route, ServerContext, principal_of
from agentrt.server.sse import ClientGone, EventStream
from agentrt.server.validation import parse_body
from agentrt.store.responses import ResponseStore, StoredResponse
from agentrt.types import Completed, Completion, Message, TextDelta, ToolCallDelta

__all__ = ["ResponsesRoutes"]

_log = structlog.get_logger("agentrt.server")


def _json(body: Any, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)


def _not_found(response_id: str, param: str | None = None) -> HttpError:
    return HttpError(
        404,
        f"no stored response {response_id!r} for this API key: it was never stored (store: false), was deleted "
        "or expired (store.retention.responses), or belongs to another tenant",
        type="invalid_request_error",
        code="response_not_found",
        param=param,
    )


class ResponsesRoutes:
    """The handlers of ``/v1/responses`` and ``/v1/responses/{response_id}``."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._kinds = ModelKinds(ctx.rt)

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                "/v1/responses",
                self.create,
                "createResponse",
                "Create a response (OpenAI's Responses API)",
                "openai",
                scope="chat",
                body=ResponsesRequest,
                responses={200: ResponseObject},
                events=ResponseStreamEvent,
                errors=(400, 401, 403, 404, 408, 413, 429, 502, 503, 504),
                description="OpenAI's Responses API for any configured model, through the runtime's policies and "
                "fallbacks. `store` (default true) keeps the response for `previous_response_id`. With "
                "`stream: true` the answer is server-sent `response.*` events.",
            ),
            Route(
                "GET",
                "/v1/responses/{response_id}",
                self.retrieve,
                "getResponse",
                "Retrieve a stored response",
                "openai",
                scope="chat",
                responses={200: ResponseObject},
                errors=(401, 403, 404),
            ),
            Route(
                "DELETE",
                "/v1/responses/{response_id}",
                self.delete,
                "deleteResponse",
                "Delete a stored response",
                "openai",
                scope="chat",
                responses={200: DeletedResponse},
                errors=(401, 403, 404),
            ),
        ]

    def _store(self) -> ResponseStore:
        return self._ctx.rt.services.get(ResponseStore)

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(ResponsesRequest, await request.read())
        call = responses_call(body)
        owner = owner_of(request[API_KEY])
        previous: list[Message] = []
        if body.previous_response_id is not None:
            stored = await self._store().get(body.previous_response_id, owner)
            if stored is None:
                raise _not_found(body.previous_response_id, "previous_response_id")
            previous = conversation_from_json(stored.conversation)
        principal = principal_of(request)
        if body.stream:
            return await self._stream(request, call, previous, principal, owner)
        completion = await self._ctx.rt.calls.generate(
            call.model, call.messages(previous), principal=principal, **call.options
        )
        response_id = new_id("resp")
        output = output_items(completion)
        answer = response_object(
            response_id, call.model, call.echo, created_at=_now(), completion=completion, output=output
        )
        if body.store:
            await self._save(answer, owner, [*previous, *call.input, message_of(completion)])
        return _json(answer, headers=call_headers(completion))

    async def _save(self, answer: dict[str, Any], owner: str, conversation: list[Message]) -> None:
        await self._store().save(
            StoredResponse(
                answer["id"],
                owner,
                float(answer["created_at"]),
                answer["model"],
                answer,
                conversation_to_json(conversation),
            )
        )

    async def _stream(
        self, request: web.Request, call: ResponsesCall, previous: list[Message], principal: Principal, owner: str
    ) -> web.StreamResponse:
        events = self._ctx.rt.calls.stream(call.model, call.messages(previous), principal=principal, **call.options)
        stream = EventStream(request)
        writer = ResponseEventWriter(
            new_id("resp"), call.model, call.echo, hold_tool_calls=self._kinds.keeps_reasoning(call.model)
        )
        try:
            # The first event decides between an error answer (nothing sent yet) and a stream.
            event = await anext(events)
            await stream.open()
            pending = writer.start()
            while True:
                out = pending
                if isinstance(event, TextDelta):
                    out += writer.text(event.text)
                elif isinstance(event, ToolCallDelta):
                    out += writer.tool_call(event)
                elif isinstance(event, Completed):
                    await stream.write(out + await self._finish(writer, call, event.completion, previous, owner))
                    break
                if out:
                    await stream.write(out)
                pending = b""
                event = await anext(events)
        except ClientGone:
            _log.info("http_stream_abandoned", route="/v1/responses", reason="the client disconnected")
        except Exception as exc:  # after the headers, an error can only be an event
            if not stream.opened:
                raise
            with contextlib.suppress(ClientGone):
                await stream.write(writer.failed(describe_error(exc)))
        finally:
            await close_events(events)
        return await stream.close()

    async def _finish(
        self,
        writer: ResponseEventWriter,
        call: ResponsesCall,
        completion: Completion,
        previous: list[Message],
        owner: str,
    ) -> bytes:
        output = writer.output(completion)
        answer = response_object(
            writer.response_id,
            call.model,
            call.echo,
            created_at=writer.created_at,
            completion=completion,
            output=output,
        )
        if call.echo["store"]:  # stored before the client hears of it: it may continue at once
            await self._save(answer, owner, [*previous, *call.input, message_of(completion)])
        return writer.finish(completion, output, answer)

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        response_id = request.match_info["response_id"]
        stored = await self._store().get(response_id, owner_of(request[API_KEY]))
        if stored is None:
            raise _not_found(response_id)
        return _json(stored.body)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        response_id = request.match_info["response_id"]
        if not await self._store().delete(response_id, owner_of(request[API_KEY])):
            raise _not_found(response_id)
        return _json({"id": response_id, "object": "response", "deleted": True})


def _now() -> int:
    return int(time.time())
