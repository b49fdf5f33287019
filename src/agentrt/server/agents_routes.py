"""The agents API: spawn, list, read, tell, ask, terminate agents, and follow their events as SSE.

=========================================  ============================================================
``POST /v1/agents``                        spawn ``{type, id, state}``: 201, or 409 if the id is taken
``GET /v1/agents``                         every agent, terminated ones included
``GET /v1/agents/{agent_id}``              status, restarts, mailbox counters and state
``POST /v1/agents/{agent_id}/tell``        queue ``{payload, priority, type}``: 202 once queued
``POST /v1/agents/{agent_id}/ask``         queue it and wait for the handler's result (``timeout``)
``DELETE /v1/agents/{agent_id}``           terminate (``?drain=false`` drops what is queued)
``POST /v1/agents/{agent_id}/resume``      bring back a ``failed`` agent, with the work it kept
``GET /v1/agents/{agent_id}/events``       server-sent events: ``event: <kind>``, ``data: {...}``
=========================================  ============================================================

Tenants: an agent spawned through a key belongs to the key's tenant (to its
user when the key has no tenant, to the key alone when it has neither). Every other key is answered 404 for it on
every route, exactly as for an agent that does not exist, and the list shows
only the key's own agents; admin keys see and act on all. Agents spawned in
Python without an ``owner`` are admin-only here. Agent ids are one namespace:
a spawn of an id another tenant holds is a 404 too, so pick ids that other
tenants will not (a uuid). Reads need the ``agents:read`` scope, the rest
``agents:write``. ``max_agents`` of a key, else ``server.max_agents_per_tenant``,
caps a tenant's live (not terminated) agents (403 ``max_agents_reached``).
Activities told or asked through a key run their model calls as the key's
principal (its policies and budgets), unless the agent type names its own.

Errors: an unknown agent is 404, a terminated one 409, a full mailbox that
rejects 429 (``Retry-After``), an ask without an answer in time 504. A
handler that raises makes the ask a 500 naming the error's type (its message
stays in the server's log: it is the agent's code, and may hold anything);
an ``error`` event says the same, with a stable message and a code.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from agentrt.errors import AgentError, AgentRTError
from agentrt.server.agents_models import (
    DEFAULT_ASK_TIMEOUT,
    AgentDetail,
    AgentEventOut,
    AgentList,
    AgentOut,
    Answer,
    AskAgent,
    SpawnAgent,
    TellAgent,
    Terminated,
    Told,
)
from agentrt.server.auth import ApiKey
from agentrt.server.errors import HttpError, describe_error
from agentrt.server.routing import API_KEY, Route, ServerContext
from agentrt.server.sse import ClientGone, EventStream, format_event, relay
from agentrt.server.validation import error_path, parse_body

if TYPE_CHECKING:
    from agentrt.agents import AgentInfo
    from agentrt.agents.backend import AgentBackend
    from agentrt.calls import Principal

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "AgentDetail",
    "AgentEventOut",
    "AgentList",
    "AgentOut",
    "AgentRoutes",
    "Answer",
    "Terminated",
    "Told",
    "agent_runtime",
]

_log = structlog.get_logger("agentrt.server")


def agent_runtime(ctx: ServerContext) -> AgentBackend:
    """The runtime's agents (``rt.agents``): local, or a Ray client (every read is a coroutine)."""
    from agentrt.agents import AgentRuntime

    return ctx.rt.services.get(AgentRuntime)


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
        # Spawns under way per owner: counted with the live agents, so concurrent spawns cannot pass the cap.
        self._spawning: Counter[tuple[str | None, str | None]] = Counter()

    def routes(self) -> list[Route]:
        errors = (401, 403, 404, 409, 429)
        read, write = "agents:read", "agents:write"
        return [
            Route(
                "POST",
                "/v1/agents",
                self.spawn,
                "spawnAgent",
                "Spawn an agent",
                "agents",
                scope=write,
                body=SpawnAgent,
                responses={201: AgentOut},
                errors=(401, 403, 404, 409),
            ),
            Route(
                "GET",
                "/v1/agents",
                self.list_agents,
                "listAgents",
                "List the agents",
                "agents",
                scope=read,
                responses={200: AgentList},
                errors=(401, 403),
            ),
            Route(
                "GET",
                "/v1/agents/{agent_id}",
                self.get,
                "getAgent",
                "An agent's status, mailbox and state",
                "agents",
                scope=read,
                responses={200: AgentDetail},
                errors=(401, 403, 404),
            ),
            Route(
                "POST",
                "/v1/agents/{agent_id}/tell",
                self.tell,
                "tellAgent",
                "Queue an activity",
                "agents",
                scope=write,
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
                scope=write,
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
                scope=write,
                responses={200: Terminated},
                errors=(401, 403, 404),
            ),
            Route(
                "POST",
                "/v1/agents/{agent_id}/resume",
                self.resume,
                "resumeAgent",
                "Resume a failed agent",
                "agents",
                scope=write,
                responses={200: AgentOut},
                errors=(401, 403, 404, 409),
                description="A `failed` agent (its restarts used up) processes the mailbox it kept again, "
                "the activity it failed on first.",
            ),
            Route(
                "GET",
                "/v1/agents/{agent_id}/events",
                self.events,
                "agentEvents",
                "Follow an agent's events (server-sent events)",
                "agents",
                scope=read,
                responses={200: "text/event-stream"},
                errors=(401, 403, 404, 409),
                description="Each event is `event: <kind>` and `data: {json}` (AgentEventOut). The stream ends "
                "when the agent terminates or the server shuts down (a last `end` event says which).",
            ),
        ]

    # --- who may see which agent -------------------------------------------------------------

    async def _agent(self, request: web.Request) -> tuple[AgentBackend, str, AgentInfo]:
        """The agents, the path's agent id and its line, when the request's key may see it; 404 otherwise."""
        agents = agent_runtime(self._ctx)
        agent_id = request.match_info["agent_id"]
        info = await agents.find(agent_id)
        if info is None or not _sees(request[API_KEY], _owner(info)):
            raise _not_found(agent_id)
        return agents, agent_id, info

    async def spawn(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(SpawnAgent, await request.read())
        key = request[API_KEY]
        agents = agent_runtime(self._ctx)
        existing = await agents.find(body.id)
        if existing is not None and existing.status.value != "terminated":
            if not _sees(key, _owner(existing)):
                raise _not_found(body.id)
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
        owner = key.owner
        slot = (owner.user, owner.tenant)
        await self._check_agent_cap(key, agents, owner, slot)
        self._spawning[slot] += 1
        try:
            await agents.spawn(body.type, body.id, state=body.state, owner=owner)
        except ValidationError as err:
            first = err.errors(include_url=False, include_input=False)[0]
            path = ".".join(p for p in ("state", error_path(first)) if p)
            raise HttpError(400, f"{path}: {first['msg']}", code="invalid_state", param=path) from None
        except AgentError as err:
            if "already exists" in err.message:  # spawned meanwhile by another request
                raise HttpError(
                    409, f"agent {body.id!r} already exists", type="conflict_error", code="agent_exists", param="id"
                ) from None
            raise
        except ValueError as err:  # a state type that cannot be built without arguments
            raise HttpError(400, f"state: {err}", code="invalid_state", param="state") from None
        finally:
            self._spawning[slot] -= 1
            if not self._spawning[slot]:
                del self._spawning[slot]
        return _json(await _agent_out(agents, body.id), status=201)

    async def _check_agent_cap(
        self, key: ApiKey, agents: AgentBackend, owner: Principal, slot: tuple[str | None, str | None]
    ) -> None:
        limit = key.max_agents if key.max_agents is not None else self._ctx.rt.config.server.max_agents_per_tenant
        if limit is None:
            return
        live = sum(
            1
            for info in await agents.fetch_list()
            if info.status.value not in ("terminated", "lost") and (info.owner_user, info.owner_tenant) == slot
        )
        if live + self._spawning[slot] >= limit:
            whose = f"tenant {owner.tenant!r}" if owner.tenant else f"user {owner.user!r}"
            raise HttpError(
                403,
                f"{whose} has {limit} live agents, its limit: terminate one first (the limit is the key's "
                "max_agents, else server.max_agents_per_tenant)",
                type="permission_error",
                code="max_agents_reached",
            )

    async def list_agents(self, request: web.Request) -> web.StreamResponse:
        agents = agent_runtime(self._ctx)
        key = request[API_KEY]
        data = [
            {"id": i.id, "type": i.type, "status": i.status.value, "depth": i.depth, "durable": i.durable}
            for i in await agents.fetch_list()
            if key.admin or _owned_by(key, i.owner_user, i.owner_tenant)
        ]
        return _json({"object": "list", "data": data})

    async def get(self, request: web.Request) -> web.StreamResponse:
        agents, agent_id, _ = await self._agent(request)
        stats = await agents.fetch_stats(agent_id)  # AgentNotFound: 404
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
                "state": codec.dump(await agents.fetch_state(agent_id)),
            }
        )

    async def tell(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(TellAgent, await request.read())
        agents, agent_id, _ = await self._agent(request)
        activity = await agents.tell(
            agent_id, body.payload, priority=body.priority, type=body.type, sender=request[API_KEY].principal
        )
        return _json({"agent": agent_id, "activity_id": activity.id, "priority": activity.priority}, status=202)

    async def ask(self, request: web.Request) -> web.StreamResponse:
        body = parse_body(AskAgent, await request.read())
        agents, agent_id, _ = await self._agent(request)
        try:
            result = await agents.ask(
                agent_id,
                body.payload,
                timeout=body.timeout,
                priority=body.priority,
                type=body.type,
                sender=request[API_KEY].principal,
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
        agents, agent_id, _ = await self._agent(request)
        drain = request.query.get("drain", "true").lower() not in ("false", "0", "no")
        dropped = await agents.terminate(agent_id, drain=drain)
        return _json({"id": agent_id, "status": "terminated", "dropped": dropped})

    async def resume(self, request: web.Request) -> web.StreamResponse:
        agents, agent_id, info = await self._agent(request)
        status = info.status.value
        if status != "failed":
            raise HttpError(
                409,
                f"agent {agent_id!r} is {status}, not failed: only a failed agent is resumed",
                type="conflict_error",
                code="agent_not_failed",
            )
        await agents.resume(agent_id)
        return _json(await _agent_out(agents, agent_id))

    async def events(self, request: web.Request) -> web.StreamResponse:
        agents, agent_id, _ = await self._agent(request)
        subscription = await agents.watch(agent_id)  # 404 / 409 as JSON: nothing sent yet
        stream = EventStream(request)

        async def write(event: Any) -> None:
            await stream.write(format_event(_dumps(_public_event(event)), event=event.kind))

        try:
            end = await relay(stream, subscription.__anext__, self._ctx.stopping, write)
            if end is not None:
                reason = "server shutting down" if end == "stopping" else "terminated"
                with contextlib.suppress(ClientGone):
                    await stream.write(
                        format_event(_dumps({"kind": "end", "agent": agent_id, "reason": reason}), event="end")
                    )
        finally:
            await subscription.aclose()
        return await stream.close()


def _not_found(agent_id: str) -> HttpError:
    # The same answer whether the agent does not exist or belongs to someone else.
    return HttpError(
        404,
        f"no agent {agent_id!r}: spawn it first (POST /v1/agents)",
        type="not_found_error",
        code="agent_not_found",
    )


def _owned_by(key: ApiKey, user: str | None, tenant: str | None) -> bool:
    owner = key.owner
    if owner.tenant is not None:
        return tenant == owner.tenant
    return tenant is None and user is not None and user == owner.user


def _sees(key: ApiKey, owner: Principal | None) -> bool:
    if key.admin:
        return True
    return owner is not None and _owned_by(key, owner.user, owner.tenant)


# "ValueError: db password=hunter2" -> "ValueError": what follows an exception's name is its message.
_EXCEPTION_TEXT = re.compile(r"\b([A-Z][\w.]*): [^)]*")


def _public_event(event: Any) -> dict[str, Any]:
    """An event as clients see it: an error's type and a stable message and code, never its text
    (the agent's own code raised it, and it may say anything; the server's log has it)."""
    data: dict[str, Any] = event.as_dict()
    if event.kind == "error":
        error = event.error
        if isinstance(error, AgentRTError):
            info = describe_error(error)
            data["error"] = {"type": type(error).__name__, "message": info.message, "code": info.code}
        else:
            data["error"] = {
                "type": type(error).__name__,
                "message": f"the handler raised {type(error).__name__} (details in the server's log)",
                "code": "agent_failed",
            }
    reason = data.get("reason")
    if isinstance(reason, str):
        data["reason"] = _EXCEPTION_TEXT.sub(r"\1", reason)
    return data


def _owner(info: AgentInfo) -> Principal | None:
    if info.owner_user is None and info.owner_tenant is None:
        return None
    from agentrt.calls import Principal

    return Principal(info.owner_user, info.owner_tenant)


async def _agent_out(agents: AgentBackend, agent_id: str) -> dict[str, Any]:
    stats = await agents.fetch_stats(agent_id)
    return {
        "id": stats.id,
        "type": stats.type,
        "status": stats.status.value,
        "depth": stats.mailbox.depth,
        "durable": agents.types()[stats.type].durable,
    }
