"""Approvals over HTTP: a model's tool call parked in the tool loop, listed and decided with POST /v1/approvals."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
from server_support import ADMIN_KEY, USER_KEY, Served, api_keys, auth, serving

from agentrt.server import hash_key
from agentrt.store import AuditTrail
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools import tool

ACME_APPROVER = "sk-agentrt-acmeAPPROVER0123456789abcdefgh"
GLOBEX_APPROVER = "sk-agentrt-globexAPPROVER0123456789abcdef"

GATED = [{"name": "transfers-need-a-yes", "effect": "allow", "approval": "required", "match": {"tools": ["transfer"]}}]


@tool
def transfer(amount: int, to: str) -> str:
    """Send money."""
    return f"sent {amount} to {to}"


def _keys() -> list[dict[str, Any]]:
    return [
        *api_keys(),
        {
            "key_sha256": hash_key(ACME_APPROVER),
            "name": "acme-ops",
            "user": "olga",
            "tenant": "acme",
            "scopes": ["approvals"],
        },
        {
            "key_sha256": hash_key(GLOBEX_APPROVER),
            "name": "globex-ops",
            "user": "gus",
            "tenant": "globex",
            "scopes": ["approvals"],
        },
    ]


def _serving(up: FakeUpstream, tmp_path: Path) -> Any:
    from server_support import server_config

    server = server_config(up, tmp_path)["server"]
    return serving(up, tmp_path, policies={"rules": GATED}, server={**server, "api_keys": _keys()})


async def _pending(http: aiohttp.ClientSession, s: Served, key: str) -> tuple[int, list[dict[str, Any]]]:
    async with http.get(f"{s.url}/v1/approvals", headers=auth(key)) as response:
        body = await response.json()
        return response.status, body.get("data", []) if response.status == 200 else []


async def _wait_pending(http: aiohttp.ClientSession, s: Served) -> dict[str, Any]:
    for _ in range(400):
        status, items = await _pending(http, s, ACME_APPROVER)
        assert status == 200
        if items:
            return items[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the tool call was never parked")


async def test_a_tool_call_parked_in_the_tool_loop_is_approved_over_http_and_the_model_gets_the_answer(
    up: FakeUpstream, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    up.script(Reply(tool_calls=[("transfer", {"amount": 5, "to": "bob"})]), Reply(text="Sent 5 to bob."))
    async with _serving(up, tmp_path) as s:
        turn = asyncio.create_task(
            s.rt.generate("gpt-test", "send bob 5", tools=[transfer], user="alice", tenant="acme")
        )
        parked = await _wait_pending(http, s)
        assert (parked["tool"], parked["tenant"], parked["rule"]) == ("transfer", "acme", "transfers-need-a-yes")
        assert parked["arguments"] == {"amount": 5, "to": "bob"}
        assert not turn.done()
        async with http.post(
            f"{s.url}/v1/approvals/{parked['id']}", json={"decision": "approve"}, headers=auth(ACME_APPROVER)
        ) as response:
            assert response.status == 200
            assert await response.json() == {"id": parked["id"], "decision": "approved", "by": "olga"}
        completion = await asyncio.wait_for(turn, 10)
        trail = s.rt.services.get(AuditTrail)
        await trail.flush()
        (row,) = await trail.query(tool="transfer")
    assert completion.text == "Sent 5 to bob."
    assert up.requests[1].body["messages"][-1]["content"] == "sent 5 to bob"
    assert (row.decision, row.outcome) == ("approved", "ok")
    assert '"approved_by":"olga"' in (row.detail or "")


async def test_a_rejection_over_http_reaches_the_model_as_the_tools_error(
    up: FakeUpstream, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    up.script(Reply(tool_calls=[("transfer", {"amount": 500, "to": "eve"})]), Reply(text="I could not send it."))
    async with _serving(up, tmp_path) as s:
        turn = asyncio.create_task(
            s.rt.generate("gpt-test", "send eve 500", tools=[transfer], user="alice", tenant="acme")
        )
        parked = await _wait_pending(http, s)
        async with http.post(
            f"{s.url}/v1/approvals/{parked['id']}",
            json={"decision": "reject", "reason": "eve is not a customer"},
            headers=auth(ADMIN_KEY),
        ) as response:
            assert response.status == 200
        await asyncio.wait_for(turn, 10)
    told = up.requests[1].body["messages"][-1]["content"]
    assert told.startswith("error: the tool call 'transfer' was rejected by root: eve is not a customer")


async def test_another_tenants_key_can_neither_see_nor_decide_and_a_key_without_the_scope_is_refused(
    up: FakeUpstream, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    up.script(Reply(tool_calls=[("transfer", {"amount": 1, "to": "bob"})]), Reply(text="done"))
    async with _serving(up, tmp_path) as s:
        turn = asyncio.create_task(s.rt.generate("gpt-test", "send", tools=[transfer], user="alice", tenant="acme"))
        parked = await _wait_pending(http, s)
        assert await _pending(http, s, GLOBEX_APPROVER) == (200, [])
        async with http.post(
            f"{s.url}/v1/approvals/{parked['id']}", json={"decision": "approve"}, headers=auth(GLOBEX_APPROVER)
        ) as response:
            assert response.status == 404  # exactly as for an id that does not exist
            assert (await response.json())["error"]["code"] == "approval_not_found"
        status, _ = await _pending(http, s, USER_KEY)  # no `scopes` listed: every scope but approvals and admin
        assert status == 403
        async with http.post(
            f"{s.url}/v1/approvals/{parked['id']}", json={"decision": "approve"}, headers=auth(USER_KEY)
        ) as response:
            assert response.status == 403
        assert not turn.done()  # still parked: nobody allowed has decided
        async with http.post(
            f"{s.url}/v1/approvals/{parked['id']}", json={"decision": "maybe"}, headers=auth(ADMIN_KEY)
        ) as response:
            assert response.status == 400
        status, admin_view = await _pending(http, s, ADMIN_KEY)
        assert [item["id"] for item in admin_view] == [parked["id"]]
        s.rt.tools.approve(parked["id"], by="test")
        await asyncio.wait_for(turn, 10)
        async with http.post(
            f"{s.url}/v1/approvals/{parked['id']}", json={"decision": "approve"}, headers=auth(ADMIN_KEY)
        ) as response:
            assert response.status == 404  # decided already


async def _next_event(response: aiohttp.ClientResponse) -> tuple[str, dict[str, Any]]:
    """The next server-sent event (name, data), skipping comments."""
    name, data = "", ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 10)).decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and data:
            import json

            return name, json.loads(data)


async def test_approval_events_stream_to_the_tenants_approvers_only(
    up: FakeUpstream, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    up.script(Reply(tool_calls=[("transfer", {"amount": 9, "to": "bob"})]), Reply(text="done"))
    async with _serving(up, tmp_path) as s:
        acme = await http.get(f"{s.url}/v1/approvals/events", headers=auth(ACME_APPROVER))
        globex = await http.get(f"{s.url}/v1/approvals/events", headers=auth(GLOBEX_APPROVER))
        assert (acme.status, globex.status) == (200, 200)
        turn = asyncio.create_task(s.rt.generate("gpt-test", "send", tools=[transfer], user="alice", tenant="acme"))
        kind, event = await _next_event(acme)
        assert (kind, event["approval"]["tool"], event["approval"]["tenant"]) == ("requested", "transfer", "acme")
        s.rt.tools.approve(event["approval"]["id"], by="olga")
        kind, event = await _next_event(acme)
        assert (kind, event["by"]) == ("approved", "olga")
        await asyncio.wait_for(turn, 10)
        with contextlib.suppress(asyncio.TimeoutError):
            # Globex's stream got nothing of acme's: only its keep-alive comment, if anything.
            line = await asyncio.wait_for(globex.content.readline(), 0.3)
            while line.startswith(b":") or line == b"\n":
                line = await asyncio.wait_for(globex.content.readline(), 0.3)
            raise AssertionError(f"globex's approver saw {line!r}")
        acme.close()
        globex.close()
