"""The agents API over HTTP: spawn, list, read, tell, ask, terminate, and events as SSE."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from server_support import Served, auth

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.server.agents_routes import AgentDetail, AgentList, AgentOut, Answer, Terminated, Told
from agentrt.testing import FakeUpstream


@dataclass
class Counter:
    count: int = 0
    seen: list[Any] = field(default_factory=list)


class Tallier(Agent[Counter]):
    """Adds each payload's ``add``; ``{"fail": msg}`` raises; ``{"wait": true}`` waits for the class gate."""

    gate: asyncio.Event = asyncio.Event()

    async def handle(self, activity: Activity, ctx: AgentContext[Counter]) -> Any:
        payload = activity.payload or {}
        if "fail" in payload:
            raise RuntimeError(payload["fail"])
        if payload.get("wait"):
            await type(self).gate.wait()
        ctx.state.count += int(payload.get("add", 0))
        ctx.state.seen.append(payload)
        return {"count": ctx.state.count}


def agents_services(rt: Any) -> None:
    """Run the store and agents services, whether or not the runtime builds them in yet."""
    from agentrt._builtin_services import builtin_services
    from agentrt.agents.service import agents_service
    from agentrt.store import Store
    from agentrt.store.service import store_service

    provided = {definition.provides for definition in builtin_services()}
    if Store not in provided:
        rt.override(Store, store_service)
    if AgentRuntime not in provided:
        rt.override(AgentRuntime, agents_service)


@contextlib.asynccontextmanager
async def agents_served(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    from server_support import server_config

    from agentrt import Runtime
    from agentrt.server import HttpServer

    Tallier.gate = asyncio.Event()
    config = server_config(up, tmp_path, store={"url": f"sqlite:///{tmp_path / 'agents.db'}"})
    rt = Runtime.open(config, plugins=False)
    agents_services(rt)
    async with rt:
        rt.services.get(AgentRuntime).register("tallier", Tallier, mailbox={"size": 2, "when_full": "reject"})
        async with HttpServer(rt, port=0) as server:
            yield Served(rt, server, up)


@pytest.fixture
async def agents(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    async with agents_served(up, tmp_path) as s:
        yield s


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=auth()) as response:
        return response.status, await response.json()


async def test_spawn_tell_ask_read_and_terminate(agents: Served, http: aiohttp.ClientSession) -> None:
    base = agents.url + "/v1/agents"
    status, body = await call(http, "POST", base, {"type": "tallier", "id": "t-1", "state": {"count": 10}})
    assert status == 201
    assert AgentOut.model_validate(body).model_dump() == {
        "id": "t-1",
        "type": "tallier",
        "status": "idle",
        "depth": 0,
        "durable": False,
    }
    status, body = await call(http, "POST", f"{base}/t-1/tell", {"payload": {"add": 1}, "priority": "high"})
    assert status == 202
    assert Told.model_validate(body).priority == 2
    status, body = await call(http, "POST", f"{base}/t-1/ask", {"payload": {"add": 5}, "timeout": 5})
    assert status == 200
    assert Answer.model_validate(body).result == {"count": 16}  # the tell ran first: one mailbox, in order
    status, body = await call(http, "GET", f"{base}/t-1")
    assert status == 200
    detail = AgentDetail.model_validate(body)
    assert detail.state == {"count": 16, "seen": [{"add": 1}, {"add": 5}]}
    assert detail.mailbox.processed == 2
    status, body = await call(http, "GET", base)
    assert [a.id for a in AgentList.model_validate(body).data] == ["t-1"]
    status, body = await call(http, "DELETE", f"{base}/t-1")
    assert status == 200
    assert Terminated.model_validate(body).dropped == 0
    status, body = await call(http, "POST", f"{base}/t-1/tell", {"payload": {"add": 1}})
    assert (status, body["error"]["code"]) == (409, "agent_terminated")


async def test_agent_errors_have_their_statuses(agents: Served, http: aiohttp.ClientSession) -> None:
    base = agents.url + "/v1/agents"
    status, body = await call(http, "GET", f"{base}/ghost")
    assert (status, body["error"]["code"]) == (404, "agent_not_found")
    status, body = await call(http, "POST", base, {"type": "nope", "id": "x"})
    assert (status, body["error"]["param"]) == (400, "type")
    status, body = await call(http, "POST", base, {"type": "tallier", "id": "x", "state": {"count": "many"}})
    assert (status, body["error"]["param"]) == (400, "state.count")
    await call(http, "POST", base, {"type": "tallier", "id": "x"})
    status, body = await call(http, "POST", base, {"type": "tallier", "id": "x"})
    assert (status, body["error"]["code"]) == (409, "agent_exists")
    status, body = await call(http, "POST", f"{base}/x/tell", {"payload": {}, "priority": "urgent"})
    assert (status, body["error"]["param"]) == (400, "priority")
    status, body = await call(http, "POST", f"{base}/x/ask", {"payload": {"fail": "boom secret"}})
    assert (status, body["error"]["code"]) == (500, "agent_failed")
    assert "RuntimeError" in body["error"]["message"]
    assert "boom secret" not in body["error"]["message"]


async def test_a_full_rejecting_mailbox_is_a_429_and_a_slow_ask_a_504(
    agents: Served, http: aiohttp.ClientSession
) -> None:
    base = agents.url + "/v1/agents"
    await call(http, "POST", base, {"type": "tallier", "id": "busy"})
    statuses = [
        (await call(http, "POST", f"{base}/busy/tell", {"payload": {"wait": True}}))[0] for _ in range(3)
    ]  # one being processed, two queued: the mailbox (size 2) is full
    status, body = await call(http, "POST", f"{base}/busy/tell", {"payload": {"add": 1}})
    assert statuses == [202, 202, 202]
    assert (status, body["error"]["code"]) == (429, "mailbox_full")
    async with http.post(f"{base}/busy/tell", json={"payload": {}}, headers=auth()) as response:
        assert response.headers["Retry-After"] == "1"
    Tallier.gate.set()
    await agents.rt.services.get(AgentRuntime).wait_idle(5)
    Tallier.gate = asyncio.Event()
    await call(http, "POST", f"{base}/busy/tell", {"payload": {"wait": True}})
    status, body = await call(http, "POST", f"{base}/busy/ask", {"payload": {"add": 1}, "timeout": 0.05})
    assert (status, body["error"]["code"]) == (504, "agent_timeout")
    Tallier.gate.set()


async def read_sse(response: aiohttp.ClientResponse, until: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    buffer = b""
    async for data in response.content.iter_any():
        buffer += data
        *blocks, buffer = buffer.split(b"\n\n")
        for block in blocks:
            lines = dict(line.split(b": ", 1) for line in block.split(b"\n") if not line.startswith(b":"))
            if lines:
                events.append((lines[b"event"].decode(), orjson.loads(lines[b"data"])))
        if any(kind == until for kind, _ in events):
            break
    return events


async def test_events_stream_as_sse_until_the_agent_terminates(agents: Served, http: aiohttp.ClientSession) -> None:
    base = agents.url + "/v1/agents"
    await call(http, "POST", base, {"type": "tallier", "id": "e-1"})
    async with http.get(f"{base}/e-1/events", headers=auth()) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        await response.content.readuntil(b"\n\n")  # ": subscribed": the subscription exists from here on
        await call(http, "POST", f"{base}/e-1/ask", {"payload": {"add": 3}})
        await call(http, "DELETE", f"{base}/e-1")
        events = await read_sse(response, until="end")
    kinds = [kind for kind, _ in events]
    assert "result" in kinds
    assert kinds[-1] == "end"
    result = next(data for kind, data in events if kind == "result")
    assert result["result"] == {"count": 3}
    assert events[-1][1]["reason"] == "terminated"
    assert ("status", "terminated") in [(k, d.get("status")) for k, d in events]


async def test_an_event_stream_ends_when_the_server_stops(up: FakeUpstream, tmp_path: Path) -> None:
    async with agents_served(up, tmp_path) as served, aiohttp.ClientSession() as http:
        await call(http, "POST", served.url + "/v1/agents", {"type": "tallier", "id": "e-2"})
        async with http.get(served.url + "/v1/agents/e-2/events", headers=auth()) as response:
            await response.content.readuntil(b"\n\n")
            stopping = asyncio.create_task(served.server.stop(5))
            events = await read_sse(response, until="end")
        assert await stopping is True  # the endless stream did not hold the shutdown up
    assert events[-1] == ("end", {"kind": "end", "agent": "e-2", "reason": "server shutting down"})


async def test_events_of_an_unknown_agent_are_a_404_in_json(agents: Served, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", agents.url + "/v1/agents/ghost/events")
    assert (status, body["error"]["code"]) == (404, "agent_not_found")


async def test_the_agents_routes_are_in_the_openapi_document(agents: Served, http: aiohttp.ClientSession) -> None:
    async with http.get(agents.url + "/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert set(paths["/v1/agents/{agent_id}"]) == {"get", "delete"}
    assert "post" in paths["/v1/agents/{agent_id}/ask"]
