"""Tenant isolation on the agents API: an agent belongs to the tenant whose key spawned it; other tenants'
keys get 404 for it on every route, as if it did not exist; scopes limit what a key may do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from server_support import ADMIN_KEY, USER_KEY, Served, api_keys
from test_server_agents import Tallier, agents_services

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.calls import Admission, PolicyHook, Principal
from agentrt.errors import PolicyDenied
from agentrt.server import hash_key
from agentrt.testing import FakeUpstream

OTHER_KEY = "sk-agentrt-otherTENANT0123456789abcdefghij"
READER_KEY = "sk-agentrt-readerKEY0123456789abcdefghijk"
SOLO_KEY = "sk-agentrt-soloUSER0123456789abcdefghijklm"
CHAT_ONLY_KEY = "sk-agentrt-chatONLY0123456789abcdefghijkl"
NOBODY_KEY = "sk-agentrt-nobodyKEY0123456789abcdefghijk"
NOBODY_TOO_KEY = "sk-agentrt-nobodyTOO0123456789abcdefghij"


class Recorder(Agent[dict]):  # type: ignore[type-arg]
    """Answers with whom the activity was sent for."""

    async def handle(self, activity: Activity, ctx: AgentContext[dict]) -> Any:  # type: ignore[type-arg]
        sender = activity.sender
        return None if sender is None else {"user": sender.user, "tenant": sender.tenant}


class Asker(Agent[dict]):  # type: ignore[type-arg]
    """Asks the model whatever it is told: the call runs as whoever sent the activity."""

    async def handle(self, activity: Activity, ctx: AgentContext[dict]) -> Any:  # type: ignore[type-arg]
        completion = await ctx.generate("default", str(activity.payload))
        return completion.text


class DenyGlobex:
    """A policy that refuses every model call for tenant globex, and records who was admitted."""

    def __init__(self) -> None:
        self.admitted: list[Principal] = []

    async def admit(self, admission: Admission) -> object | None:
        if admission.principal.tenant == "globex":
            raise PolicyDenied("tenant globex may not use models", rule="no-globex")
        self.admitted.append(admission.principal)
        return None

    async def settle(self, reservation: object | None, usage: object, cost: float | None) -> None:
        return None

    async def release(self, reservation: object | None) -> None:
        return None


class Fragile(Agent[dict]):  # type: ignore[type-arg]
    async def handle(self, activity: Activity, ctx: AgentContext[dict]) -> Any:  # type: ignore[type-arg]
        raise RuntimeError("db password=hunter2")


def keys() -> list[dict[str, Any]]:
    return [
        *api_keys(),
        {"key_sha256": hash_key(OTHER_KEY), "name": "globex", "user": "bob", "tenant": "globex"},
        {"key_sha256": hash_key(READER_KEY), "name": "acme-reader", "tenant": "acme", "scopes": ["agents:read"]},
        {"key_sha256": hash_key(SOLO_KEY), "name": "solo", "user": "sam", "max_agents": 2},
        {"key_sha256": hash_key(CHAT_ONLY_KEY), "name": "chatter", "tenant": "acme", "scopes": ["chat"]},
        {"key_sha256": hash_key(NOBODY_KEY), "name": "anon-1"},
        {"key_sha256": hash_key(NOBODY_TOO_KEY), "name": "anon-2"},
    ]


@contextlib.asynccontextmanager
async def tenants_served(
    up: FakeUpstream, tmp_path: Path, *, policy: Any = None, **server: Any
) -> AsyncIterator[Served]:
    from server_support import server_config

    from agentrt import Runtime
    from agentrt.server import HttpServer

    config = server_config(up, tmp_path, store={"url": f"sqlite:///{tmp_path / 'agents.db'}"})
    config["server"] = {**config["server"], "api_keys": keys(), **server}
    rt = Runtime.open(config, plugins=False)
    agents_services(rt)
    if policy is not None:
        rt.override(PolicyHook, policy)
    async with rt:
        agents = rt.services.get(AgentRuntime)
        agents.register("tallier", Tallier)
        agents.register("recorder", Recorder)
        agents.register("fragile", Fragile, restart={"max_restarts": 0})
        agents.register("asker", Asker)
        async with HttpServer(rt, port=0) as server_:
            yield Served(rt, server_, up)


@pytest.fixture
async def tenants(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    async with tenants_served(up, tmp_path, max_agents_per_tenant=3) as s:
        yield s


async def call(
    http: aiohttp.ClientSession, method: str, url: str, key: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        return response.status, await response.json()


async def test_another_tenant_gets_404_on_every_route_as_if_the_agent_did_not_exist(
    tenants: Served, http: aiohttp.ClientSession
) -> None:
    base = tenants.url + "/v1/agents"
    assert (await call(http, "POST", base, USER_KEY, {"type": "tallier", "id": "acme-1"}))[0] == 201
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/acme-1", None),
        ("POST", "/acme-1/tell", {"payload": {"add": 1}}),
        ("POST", "/acme-1/ask", {"payload": {"add": 1}}),
        ("GET", "/acme-1/events", None),
        ("POST", "/acme-1/resume", None),
        ("DELETE", "/acme-1", None),
    ]
    for method, path, body in routes:
        theirs = await call(http, method, base + path, OTHER_KEY, body)
        ghost = await call(http, method, base + path.replace("acme-1", "ghost-1"), OTHER_KEY, body)
        assert theirs[0] == 404, (method, path, theirs)
        # Word for word what a missing agent gets, the id aside.
        assert theirs[1]["error"]["message"].replace("acme-1", "X") == ghost[1]["error"]["message"].replace(
            "ghost-1", "X"
        )
        assert theirs[1]["error"]["code"] == ghost[1]["error"]["code"] == "agent_not_found"
    status, body = await call(http, "POST", base, OTHER_KEY, {"type": "tallier", "id": "acme-1"})
    assert (status, body["error"]["code"]) == (404, "agent_not_found")
    status, body = await call(http, "GET", base, OTHER_KEY)
    assert (status, body["data"]) == (200, [])
    # Untouched by all that: still there, nothing told.
    status, body = await call(http, "GET", base + "/acme-1", USER_KEY)
    assert (status, body["status"], body["mailbox"]["enqueued"]) == (200, "idle", 0)
    # The same tenant through another key sees it; an admin key sees every agent.
    assert (await call(http, "GET", base + "/acme-1", READER_KEY))[0] == 200
    assert [a["id"] for a in (await call(http, "GET", base, ADMIN_KEY))[1]["data"]] == ["acme-1"]
    assert (await call(http, "DELETE", base + "/acme-1", ADMIN_KEY))[0] == 200


async def test_an_agent_spawned_in_python_without_an_owner_is_for_admin_keys_only(
    tenants: Served, http: aiohttp.ClientSession
) -> None:
    await tenants.rt.services.get(AgentRuntime).spawn("tallier", "internal")
    assert (await call(http, "GET", tenants.url + "/v1/agents/internal", USER_KEY))[0] == 404
    assert (await call(http, "GET", tenants.url + "/v1/agents/internal", ADMIN_KEY))[0] == 200


async def test_a_key_without_user_or_tenant_owns_its_agents_alone(
    tenants: Served, http: aiohttp.ClientSession
) -> None:
    base = tenants.url + "/v1/agents"
    assert (await call(http, "POST", base, NOBODY_KEY, {"type": "tallier", "id": "anon"}))[0] == 201
    assert (await call(http, "GET", base + "/anon", NOBODY_KEY))[0] == 200
    assert (await call(http, "GET", base + "/anon", NOBODY_TOO_KEY))[0] == 404
    assert tenants.rt.services.get(AgentRuntime).owner("anon") == Principal(user="key:anon-1")


async def test_scopes_limit_what_a_key_may_do(tenants: Served, http: aiohttp.ClientSession) -> None:
    base = tenants.url + "/v1/agents"
    await call(http, "POST", base, USER_KEY, {"type": "tallier", "id": "acme-2"})
    for method, path, body in [
        ("POST", "", {"type": "tallier", "id": "acme-3"}),
        ("POST", "/acme-2/tell", {"payload": {}}),
        ("POST", "/acme-2/ask", {"payload": {}}),
        ("POST", "/acme-2/resume", None),
        ("DELETE", "/acme-2", None),
    ]:
        status, error = await call(http, method, base + path, READER_KEY, body)
        assert (status, error["error"]["code"]) == (403, "insufficient_scope"), (method, path)
    assert (await call(http, "GET", base + "/acme-2", READER_KEY))[0] == 200
    assert (await call(http, "GET", base, CHAT_ONLY_KEY))[0] == 403
    # A chat-only key chats; an agents-only key does not.
    chat = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    assert (await call(http, "POST", tenants.url + "/v1/chat/completions", CHAT_ONLY_KEY, chat))[0] == 200
    assert (await call(http, "POST", tenants.url + "/v1/chat/completions", READER_KEY, chat))[0] == 403
    assert (await call(http, "POST", tenants.url + "/admin/reload", USER_KEY))[0] == 403


async def test_a_tenant_has_at_most_max_agents_live_agents(tenants: Served, http: aiohttp.ClientSession) -> None:
    base = tenants.url + "/v1/agents"
    results = await asyncio.gather(
        *(call(http, "POST", base, USER_KEY, {"type": "tallier", "id": f"cap-{n}"}) for n in range(6))
    )
    assert sorted(status for status, _ in results) == [201, 201, 201, 403, 403, 403]
    refused = next(body for status, body in results if status == 403)
    assert refused["error"]["code"] == "max_agents_reached"
    # Another tenant has its own count; a key's own max_agents (2) beats the server's (3).
    assert (await call(http, "POST", base, OTHER_KEY, {"type": "tallier", "id": "g-1"}))[0] == 201
    assert [(await call(http, "POST", base, SOLO_KEY, {"type": "tallier", "id": f"s-{n}"}))[0] for n in range(3)] == [
        201,
        201,
        403,
    ]
    # A terminated agent no longer counts.
    assert (await call(http, "DELETE", base + "/cap-0", ADMIN_KEY))[0] in (200, 404)
    live = [a["id"] for a in (await call(http, "GET", base, USER_KEY))[1]["data"] if a["status"] != "terminated"]
    await call(http, "DELETE", f"{base}/{live[0]}", USER_KEY)
    assert (await call(http, "POST", base, USER_KEY, {"type": "tallier", "id": "cap-new"}))[0] == 201


async def test_activities_run_as_the_key_that_sent_them(tenants: Served, http: aiohttp.ClientSession) -> None:
    base = tenants.url + "/v1/agents"
    await call(http, "POST", base, USER_KEY, {"type": "recorder", "id": "rec"})
    status, body = await call(http, "POST", base + "/rec/ask", USER_KEY, {"payload": {}})
    assert (status, body["result"]) == (200, {"user": "alice", "tenant": "acme"})
    assert tenants.rt.services.get(AgentRuntime).owner("rec") == Principal(user=None, tenant="acme")


async def _collect(response: aiohttp.ClientResponse, events: list[tuple[str, dict[str, Any]]], until: str) -> None:
    buffer = b""
    async for data in response.content.iter_any():
        buffer += data
        *blocks, buffer = buffer.split(b"\n\n")
        for block in blocks:
            lines = dict(line.split(b": ", 1) for line in block.split(b"\n") if not line.startswith(b":"))
            if lines:
                events.append((lines[b"event"].decode(), orjson.loads(lines[b"data"])))
        if any(data.get("status") == until for _, data in events):
            return


async def test_an_agents_error_reaches_no_client_and_a_failed_agent_is_resumed(
    tenants: Served, http: aiohttp.ClientSession
) -> None:
    base = tenants.url + "/v1/agents"
    await call(http, "POST", base, USER_KEY, {"type": "fragile", "id": "frag"})
    async with http.get(f"{base}/frag/events", headers={"Authorization": f"Bearer {USER_KEY}"}) as response:
        await response.content.readuntil(b"\n\n")
        status, body = await call(http, "POST", base + "/frag/ask", USER_KEY, {"payload": {}, "timeout": 5})
        assert status == 500
        events: list[tuple[str, dict[str, Any]]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await _collect(response, events, until="failed")
    text = repr(events) + repr(body)
    assert "hunter2" not in text
    errors = [data for kind, data in events if kind == "error"]
    assert errors
    assert errors[0]["error"] == {
        "type": "RuntimeError",
        "message": "the handler raised RuntimeError (details in the server's log)",
        "code": "agent_failed",
    }
    status, body = await call(http, "GET", base + "/frag", USER_KEY)
    assert body["status"] == "failed"  # no restarts allowed: the supervisor gave up
    assert [d["reason"] for k, d in events if d.get("status") == "failed"]  # a reason, its secret cut out
    status, body = await call(http, "POST", base + "/frag/resume", USER_KEY)
    assert status == 200
    assert body["status"] in ("idle", "processing", "error", "failed")  # it retries the kept activity
    await call(http, "POST", base, USER_KEY, {"type": "tallier", "id": "healthy"})
    status, body = await call(http, "POST", base + "/healthy/resume", USER_KEY)
    assert (status, body["error"]["code"]) == (409, "agent_not_failed")


async def test_agent_request_types_are_strict(tenants: Served, http: aiohttp.ClientSession) -> None:
    base = tenants.url + "/v1/agents"
    await call(http, "POST", base, USER_KEY, {"type": "tallier", "id": "strict"})
    status, body = await call(http, "POST", base + "/strict/ask", USER_KEY, {"payload": {}, "timeout": "5"})
    assert (status, body["error"]["param"]) == (400, "timeout")
    status, body = await call(http, "POST", base + "/strict/ask", USER_KEY, {"payload": {}, "timeout": 5})
    assert status == 200


async def test_a_key_that_chat_refuses_gets_no_answer_through_an_agent(
    up: FakeUpstream, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    policy = DenyGlobex()
    async with tenants_served(up, tmp_path, policy=policy) as served:
        base = served.url + "/v1/agents"
        chat = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
        status, body = await call(http, "POST", served.url + "/v1/chat/completions", OTHER_KEY, chat)
        assert (status, body["error"]["code"]) == (403, "policy_denied")
        assert (await call(http, "POST", base, OTHER_KEY, {"type": "asker", "id": "g-asker"}))[0] == 201
        status, body = await call(http, "POST", base + "/g-asker/ask", OTHER_KEY, {"payload": "hi", "timeout": 5})
        assert status == 403, body  # the agent's model call ran as globex's key: refused the same way
        assert body["error"]["code"] == "policy_denied"
        # acme's key is admitted, through its agent too, and the call is made as acme's key.
        assert (await call(http, "POST", base, USER_KEY, {"type": "asker", "id": "a-asker"}))[0] == 201
        status, body = await call(http, "POST", base + "/a-asker/ask", USER_KEY, {"payload": "hi", "timeout": 5})
        assert status == 200, body
        assert policy.admitted[-1].tenant == "acme"
        assert policy.admitted[-1].user == "alice"
