"""The agents pages: types and instances, one agent's state and live events, resume and terminate (admin).

Agents are read through ``rt.agents`` as the agents API reads them, and with
its owner rule: a narrowed viewer sees the agents its tenant (or user) owns;
another's is answered 404, as one that does not exist. Events go out as the
agents API sends them (an error's type and a stable message, never its text).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from agentrt.errors import AgentError, AgentRTError
from agentrt.server.errors import HttpError
from agentrt.server.sse import ClientGone, EventStream, format_event, relay
from agentrt.server.ui.context import UiContext
from agentrt.server.ui.render import redirect, render
from agentrt.server.ui.viewer import Viewer

if TYPE_CHECKING:
    from agentrt.agents.backend import AgentBackend
    from agentrt.agents.instance import AgentInfo

__all__ = ["agent_events", "agent_page", "agents_page", "resume", "terminate"]

_STATE_CHARS = 20_000  # a state bigger than this is cut on the page (the API has it whole)


def _agents(ui: UiContext) -> AgentBackend | None:
    from agentrt.agents import AgentRuntime

    return ui.service(AgentRuntime)  # type: ignore[no-any-return]


def _owner(info: AgentInfo) -> Any:
    if info.owner_user is None and info.owner_tenant is None:
        return None
    from agentrt.calls import Principal

    return Principal(info.owner_user, info.owner_tenant)


async def _agent(ui: UiContext, viewer: Viewer, agent_id: str) -> tuple[AgentBackend, AgentInfo]:
    agents = _agents(ui)
    info = await agents.find(agent_id) if agents is not None else None
    if agents is None or info is None or not viewer.sees_owner(_owner(info)):
        raise HttpError(404, f"no agent {agent_id[:80]!r}", type="not_found_error", code="agent_not_found")
    return agents, info


async def agents_page(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    agents = _agents(ui)
    rows: list[dict[str, Any]] = []
    types: list[dict[str, Any]] = []
    if agents is not None:
        for info in await agents.fetch_list():
            if not viewer.sees_owner(_owner(info)):
                continue
            try:
                stats = await agents.fetch_stats(info.id)
            except AgentRTError:  # gone between the list and now
                continue
            rows.append({"info": info, "stats": stats})
        counts: dict[str, int] = {}
        for row in rows:
            if row["info"].status.value not in ("terminated", "lost"):
                counts[row["info"].type] = counts.get(row["info"].type, 0) + 1
        types = [
            {
                "name": name,
                "durable": kind.durable,
                "live": counts.get(name, 0),
                "restart": kind.restart.strategy if getattr(kind, "restart", None) is not None else "-",
            }
            for name, kind in sorted(agents.types().items())
        ]
    return render("agents.html", viewer=viewer, page="agents", agents=rows, types=types, enabled=agents is not None)


async def agent_page(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    agent_id = request.match_info["agent_id"]
    agents, info = await _agent(ui, viewer, agent_id)
    stats = await agents.fetch_stats(agent_id)
    try:
        state = await agents.fetch_state(agent_id)
        shown = orjson.dumps(state, default=_plain, option=orjson.OPT_INDENT_2).decode()
    except (AgentRTError, TypeError, ValueError) as err:
        shown = f"(state not readable: {type(err).__name__})"
    if len(shown) > _STATE_CHARS:
        shown = shown[:_STATE_CHARS] + "\n... (cut: GET /v1/agents/{id} has it whole)"
    notice = request.query.get("done")
    return render(
        "agent.html",
        viewer=viewer,
        page="agents",
        info=info,
        stats=stats,
        state=shown,
        notice=notice if notice in ("terminated", "resumed") else None,
    )


def _plain(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return str(value)


async def agent_events(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """The agent's events as SSE (``event: <kind>``), then ``event: end`` when it terminates."""
    from agentrt.server.agents_routes import _public_event

    agent_id = request.match_info["agent_id"]
    agents, _ = await _agent(ui, viewer, agent_id)
    try:
        subscription = await agents.watch(agent_id)
    except AgentRTError as err:
        raise HttpError(
            409, f"agent {agent_id[:80]!r} has no more events: {type(err).__name__}", code="agent_terminated"
        ) from err
    stream = EventStream(request)

    async def write(event: Any) -> None:
        data = orjson.dumps(_public_event(event), default=_plain)
        await stream.write(format_event(data, event=event.kind))

    try:
        if await relay(stream, subscription.__anext__, ui.server.stopping, write) is not None:
            with contextlib.suppress(ClientGone):
                await stream.write(format_event(orjson.dumps({"kind": "end", "agent": agent_id}), event="end"))
    finally:
        await subscription.aclose()
    return await stream.close()


def _admin_only(viewer: Viewer) -> None:
    if not viewer.can_act:
        raise HttpError(
            403,
            "resuming and terminating agents needs an admin key",
            type="permission_error",
            code="admin_key_required",
        )


async def terminate(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    _admin_only(viewer)
    agent_id = request.match_info["agent_id"]
    agents, _ = await _agent(ui, viewer, agent_id)
    await agents.terminate(agent_id)
    return redirect(f"/ui/agents/{_quoted(agent_id)}?done=terminated")


async def resume(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    _admin_only(viewer)
    agent_id = request.match_info["agent_id"]
    agents, _ = await _agent(ui, viewer, agent_id)
    try:
        await agents.resume(agent_id)
    except AgentError as err:
        raise HttpError(409, str(err), code="agent_not_failed") from err
    return redirect(f"/ui/agents/{_quoted(agent_id)}?done=resumed")


def _quoted(agent_id: str) -> str:
    from urllib.parse import quote

    return quote(agent_id, safe="")
