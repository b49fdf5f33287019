"""The agents API: spawn, list, read, tell, ask, terminate agents, and follow their events as SSE.

=========================================  ============================================================
``POST /v1/agents``                        spawn ``{type, id, state}``: 201, or 409 if the id is taken
``GET /v1/agents``                         every agent, terminated ones included
``GET /v1/agents/{agent_id}``              status, restarts, mailbox counters and state
``POST /v1/agents/{agent_id}/tell``        queue ``{payload, priority, type}``: 202 once queued
``POST /v1/agents/{agent_id}/ask``         queue it and wait for the handler's result (``timeout``)
``DELETE /v1/agents/{agent_id}``           terminate (``?drain=false`` drops what is queued)
``GET /v1/agents/{agent_id}/events``       server-sent events: ``event: <kind>``, ``data: {...}``
=========================================  ============================================================

Errors: an unknown agent is 404, a terminated one 409, a full mailbox that
rejects 429 (``Retry-After``), an ask without an answer in time 504. A
handler that raises makes the ask a 500 naming the error's type (its message
stays in the server's log: it is the agent's code, and may hold anything).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentrt.errors import AgentRTError
from agentrt.server.errors import HttpError
from agentrt.server.openai_models import by_kind, tag
from agentrt.server.routing import Route, ServerContext
from agentrt.server.sse import ClientGone, EventStream, format_event
from agentrt.server.validation import error_path, parse_body

if TYPE_CHECKING:
    from agentrt.agents import AgentRuntime

__all__ = ["AgentRoutes", "agent_runtime"]

_log = structlog.get_logger("agentrt.server")

# An ask without a timeout would hold its connection for as long as the agent takes: bound it.
DEFAULT_ASK_TIMEOUT = 60.0
# A comment on an idle event stream keeps proxies from closing it.
KEEPALIVE_SECONDS = 15.0


def agent_runtime(ctx: ServerContext) -> AgentRuntime:
    """The runtime's agents (``rt.agents``)."""
    from agentrt.agents import AgentRuntime

    return ctx.rt.services.get(AgentRuntime)


# --- request and response models ------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


PriorityParam = Annotated[
    Annotated[Literal["low", "normal", "high", "critical"], tag("name")] | Annotated[int, tag("number")],
    by_kind(
        {"name": lambda v: isinstance(v, str), "number": lambda v: isinstance(v, int) and not isinstance(v, bool)},
        "priority must be low, normal, high, critical, or an int (higher first)",
    ),
]


class SpawnAgent(_In):
    type: str = Field(min_length=1, description="An agent type of the configuration (`agents.<type>`).")
    id: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$")
    state: Any = Field(default=None, description="The initial state; validated into the type's state model.")


class TellAgent(_In):
    payload: Any = None
    priority: PriorityParam = Field(default="normal", description="A name, or an int: higher first.")
    type: str = Field(default="message", min_length=1)


class AskAgent(TellAgent):
    timeout: float = Field(default=DEFAULT_ASK_TIMEOUT, gt=0, le=3600, description="Seconds to wait for the answer.")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentOut(_Out):
    id: str
    type: str
    status: Literal["idle", "processing", "error", "terminated"]
    depth: int
    durable: bool


class AgentList(_Out):
    object: Literal["list"]
    data: list[AgentOut]


class MailboxOut(_Out):
    depth: int
    max_depth: int
    capacity: int
    enqueued: int
    processed: int
    failed: int
    processing_seconds: float
    waiting_senders: int


class AgentDetail(_Out):
    id: str
    type: str
    status: Literal["idle", "processing", "error", "terminated"]
    restarts: int
    mailbox: MailboxOut
    state: Any


class Told(_Out):
    agent: str
    activity_id: str
    priority: int


class Answer(_Out):
    agent: str
    result: Any


class Terminated(_Out):
    id: str
    status: Literal["terminated"]
    dropped: int


class AgentEventOut(BaseModel):
    """One event of ``/events`` (``kind``: status, state, result, error, restarted, dropped; or end)."""

    model_config = ConfigDict(extra="allow")
    kind: str
    agent: str


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(body), status=status, content_type="application/json")


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_fallback)


def _fallback(value: Any) -> Any:
    # Results and states are the agents' own data: pydantic models dump as JSON, the rest as text.
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


class AgentRoutes:
    """The handlers of ``/v1/agents``."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx

    def routes(self) -> list[Route]:
        errors = (401, 404, 409, 429)
        return [
            Route(
                "POST",
                "/v1/agents",
                self.spawn,
                "spawnAgent",
                "Spawn an agent",
                "agents",
                body=SpawnAgent,
                responses={201: AgentOut},
                errors=(401, 409),
            ),
            Route(
                "GET",
                "/v1/agents",
                self.list_agents,
                "listAgents",
                "List the agents",
                "agents",
                responses={200: AgentList},
                errors=(401,),
            ),
            Route(
                "GET",
                "/v1/agents/{agent_id}",
                self.get,
                "getAgent",
                "An agent's status, mailbox and state",
                "agents",
                responses={200: AgentDetail},
                errors=(401, 404),
            ),
            Route(
                "POST",
                "/v1/agents/{agent_id}/tell",
                self.tell,
                "tellAgent",
                "Queue an activity",
                "agents",
                body=TellAgent,
                responses={202: Told},
                errors=errors,
            ),
            Route(
                "POST",
                "/v1/agents/{agent_id}/ask",
                self.ask,
                "askAgent",
                "Queue an activity and wait for its result",
                "agents",
                body=AskAgent,
                responses={200: Answer},
                errors=(*errors, 500, 504),
            ),
            Route(
                "DELETE",
                "/v1/agents/{agent_id}",
                self.terminate,
                "terminateAgent",
                "Terminate an agent",
                "agents",
                responses={200: Terminated},
                errors=(401, 404),
            ),
            Route(
                "GET",
                "/v1/agents/{agent_id}/events",
                self.events,
                "agentEvents",
                "Follow an agent's events (server-sent events)",
                "agents",
                responses={200: "text/event-stream"},
                errors=(401, 404, 409),
                description="Each event is `event: <kind>` and `data: {json}` (AgentEventOut). The stream ends "
                "when the agent terminates or the server shuts down (a last `end` event says which).",
            ),
        ]

    async def spawn(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(SpawnAgent, await request.read())
        agents = agent_runtime(self._ctx)
        if body.id in agents and agents.status(body.id).value != "terminated":
            raise HttpError(
                409,
                f"agent {body.id!r} already exists: terminate it first or pick another id",
                type="conflict_error",
                code="agent_exists",
                param="id",
            )
        if body.type not in agents.types():
            known = ", ".join(sorted(agents.types())) or "none"
            raise HttpError(
                400,
                f"no agent type {body.type!r} (types: {known}): add it under `agents:` in the configuration",
                code="unknown_agent_type",
                param="type",
            )
        try:
            await agents.spawn(body.type, body.id, state=body.state)
        except ValidationError as err:
            first = err.errors(include_url=False, include_input=False)[0]
            path = ".".join(p for p in ("state", error_path(first)) if p)
            raise HttpError(400, f"{path}: {first['msg']}", code="invalid_state", param=path) from None
        except ValueError as err:  # a state type that cannot be built without arguments
            raise HttpError(400, f"state: {err}", code="invalid_state", param="state") from None
        return _json(_agent_out(agents, body.id), status=201)

    async def list_agents(self, request: web.Request) -> web.StreamResponse:
        agents = agent_runtime(self._ctx)
        data = [
            {"id": i.id, "type": i.type, "status": i.status.value, "depth": i.depth, "durable": i.durable}
            for i in agents.list()
        ]
        return _json({"object": "list", "data": data})

    async def get(self, request: web.Request) -> web.StreamResponse:
        agents = agent_runtime(self._ctx)
        agent_id = request.match_info["agent_id"]
        stats = agents.stats(agent_id)  # AgentNotFound: 404
        codec = agents.types()[stats.type].codec
        m = stats.mailbox
        mailbox = {
            "depth": m.depth,
            "max_depth": m.max_depth,
            "capacity": m.capacity,
            "enqueued": m.enqueued,
            "processed": m.processed,
            "failed": m.failed,
            "processing_seconds": m.processing_seconds,
            "waiting_senders": m.waiting_senders,
        }
        return _json(
            {
                "id": stats.id,
                "type": stats.type,
                "status": stats.status.value,
                "restarts": stats.restarts,
                "mailbox": mailbox,
                "state": codec.dump(agents.state(agent_id)),
            }
        )

    async def tell(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(TellAgent, await request.read())
        agent_id = request.match_info["agent_id"]
        activity = await agent_runtime(self._ctx).tell(agent_id, body.payload, priority=body.priority, type=body.type)
        return _json({"agent": agent_id, "activity_id": activity.id, "priority": activity.priority}, status=202)

    async def ask(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(AskAgent, await request.read())
        agent_id = request.match_info["agent_id"]
        try:
            result = await agent_runtime(self._ctx).ask(
                agent_id, body.payload, timeout=body.timeout, priority=body.priority, type=body.type
            )
        except AgentRTError:
            raise
        except Exception as err:  # the handler's own error: the agent runtime logged it with its traceback
            raise HttpError(
                500,
                f"agent {agent_id!r} failed on this activity: its handler raised "
                f"{type(err).__name__} (details in the server's log)",
                type="server_error",
                code="agent_failed",
            ) from None
        return _json({"agent": agent_id, "result": result})

    async def terminate(self, request: web.Request) -> web.StreamResponse:
        agent_id = request.match_info["agent_id"]
        drain = request.query.get("drain", "true").lower() not in ("false", "0", "no")
        dropped = await agent_runtime(self._ctx).terminate(agent_id, drain=drain)
        return _json({"id": agent_id, "status": "terminated", "dropped": dropped})

    async def events(self, request: web.Request) -> web.StreamResponse:
        agent_id = request.match_info["agent_id"]
        subscription = agent_runtime(self._ctx).subscribe(agent_id)  # 404 / 409 as JSON: nothing sent yet
        stream = EventStream(request)
        stopping = asyncio.ensure_future(self._ctx.stopping.wait())
        reason = "terminated"
        try:
            await stream.open()
            await stream.comment("subscribed")
            while True:
                following = asyncio.ensure_future(anext(subscription))
                done, _ = await asyncio.wait(
                    {following, stopping}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if following not in done:
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await following
                    if stopping in done:
                        reason = "server shutting down"
                        break
                    await stream.comment()
                    continue
                try:
                    event = following.result()
                except StopAsyncIteration:
                    break
                await stream.write(format_event(_dumps(event.as_dict()), event=event.kind))
            await stream.write(format_event(_dumps({"kind": "end", "agent": agent_id, "reason": reason}), event="end"))
        except ClientGone:
            pass
        finally:
            stopping.cancel()
            await subscription.aclose()
        return await stream.close()


def _agent_out(agents: AgentRuntime, agent_id: str) -> dict[str, Any]:
    stats = agents.stats(agent_id)
    return {
        "id": stats.id,
        "type": stats.type,
        "status": stats.status.value,
        "depth": stats.mailbox.depth,
        "durable": agents.types()[stats.type].durable,
    }
