"""The /mcp endpoint with the official `mcp` client: tools, agent tools, prompts, auth, scopes, tenants.

A real `agentrt` server on loopback (HttpServer), the SDK's ClientSession over
its streamable HTTP client; the tools are the built-in calculator and a Python
toolkit, the agent is the agents API tests' `tallier`.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import mcp_types as types
import orjson
import pytest
from mcp.shared.exceptions import MCPError
from server_mcp_support import CHAT_ONLY_KEY, OTHER_TENANT_KEY, mcp_client, mcp_served, mcp_session
from server_support import ADMIN_KEY, Served, auth
from test_server_agents import Tallier

from agentrt.agents import AgentRuntime
from agentrt.store.audit import AuditTrail
from agentrt.store.ledger import UsageLedger
from agentrt.testing import FakeUpstream

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
async def served(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    async with mcp_served(up, tmp_path) as s:
        yield s


def text_of(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


# --- listing ----------------------------------------------------------------------------------


async def test_tools_list_has_the_configured_tools_and_the_agents(served: Served) -> None:
    async with mcp_session(served.url) as session:
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert {"calc.evaluate", "shop.shout", "shop.order_total", "agents.tallier"} <= set(listed)
    shout = listed["shop.shout"]
    assert shout.description == "Say it louder."
    assert shout.input_schema["type"] == "object"
    assert shout.input_schema["properties"]["text"]["description"] == "What to say."
    assert shout.input_schema["required"] == ["text"]
    agent = listed["agents.tallier"]
    assert agent.input_schema["required"] == ["message"]
    assert "Adds each payload" in (agent.description or "")


# --- calling tools ----------------------------------------------------------------------------


async def test_builtin_calculator_call(served: Served) -> None:
    async with mcp_session(served.url) as session:
        calc = next(t for t in (await session.list_tools()).tools if t.name.startswith("calc."))
        argument = next(iter(calc.input_schema["properties"]))
        result = await session.call_tool(calc.name, {argument: "2 * (3 + 4)"})
    assert not result.is_error
    assert "14" in text_of(result)


async def test_python_tool_call_with_structured_output(served: Served) -> None:
    async with mcp_session(served.url, ADMIN_KEY) as session:
        shouted = await session.call_tool("shop.shout", {"text": "hello"})
        total = await session.call_tool("shop.order_total", {"items": [1.5, 2.5], "tax": 0.5})
    assert not shouted.is_error
    assert text_of(shouted) == "HELLO!"
    assert not total.is_error
    assert orjson.loads(text_of(total)) == {"total": 6.0}


async def test_bad_arguments_are_an_error_result_the_model_can_read(served: Served) -> None:
    async with mcp_session(served.url) as session:
        result = await session.call_tool("shop.shout", {"words": "x"})
    assert result.is_error
    assert "text" in text_of(result)


async def test_unknown_tool_is_a_protocol_error(served: Served) -> None:
    async with mcp_session(served.url) as session:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("shop.nope", {})
    assert caught.value.code == types.INVALID_PARAMS
    assert "shop.nope" in caught.value.message


async def test_a_tool_denied_by_policy_is_an_error_result_with_the_reason(served: Served) -> None:
    async with mcp_session(served.url) as session:  # alice, tenant acme: the rule refuses shop.order_*
        result = await session.call_tool("shop.order_total", {"items": [1.0]})
    assert result.is_error
    assert "acme may not total orders here" in text_of(result)


async def test_tool_calls_run_as_the_keys_tenant_and_request(served: Served) -> None:
    async with mcp_session(served.url, OTHER_TENANT_KEY) as session:
        result = await session.call_tool("shop.shout", {"text": "globex"})
    assert text_of(result) == "GLOBEX!"
    trail = served.rt.services.get(AuditTrail)
    await trail.flush()
    rows = await trail.query(tool="shop.shout")
    assert len(rows) == 1
    row = rows[0]
    assert (row.tenant, row.user, row.api_key, row.decision) == ("globex", "gus", "globex", "allow")
    assert row.request_id is not None
    assert row.request_id.startswith("req-")  # the HTTP request's id, not one the tool call made up


async def test_a_denied_call_has_its_audit_row(served: Served) -> None:
    async with mcp_session(served.url) as session:
        await session.call_tool("shop.order_total", {"items": [1.0]})
    trail = served.rt.services.get(AuditTrail)
    await trail.flush()
    rows = await trail.query(tool="shop.order_total")
    assert [(r.tenant, r.decision, r.rule) for r in rows] == [("acme", "deny", "acme-no-orders")]


@pytest.mark.parametrize("approve", [True, False], ids=["approved", "rejected"])
async def test_a_call_that_needs_approval_waits_for_it(served: Served, approve: bool) -> None:
    async with mcp_session(served.url) as session:
        calling = asyncio.create_task(session.call_tool("ops.deploy", {"target": "prod"}))
        await _until(lambda: bool(served.rt.tools.pending()))
        (parked,) = served.rt.tools.pending()
        assert (parked.tool, parked.tenant, parked.user) == ("ops.deploy", "acme", "alice")
        assert not calling.done()  # the MCP call waits while a person decides
        if approve:
            served.rt.tools.approve(parked.id, by="root")
        else:
            served.rt.tools.reject(parked.id, "not on a Friday", by="root")
        result = await asyncio.wait_for(calling, 5)
    if approve:
        assert not result.is_error
        assert text_of(result) == "deployed prod"
    else:
        assert result.is_error
        assert "not on a Friday" in text_of(result)


# --- agents -----------------------------------------------------------------------------------


async def test_agent_tool_one_off_question_leaves_no_agent(served: Served) -> None:
    agents = served.rt.services.get(AgentRuntime)
    async with mcp_session(served.url) as session:
        result = await session.call_tool("agents.tallier", {"message": {"add": 5}})
    assert not result.is_error, text_of(result)
    assert orjson.loads(text_of(result)) == {"count": 5}
    assert result.structured_content == {"result": {"count": 5}}
    assert all(info.status.value == "terminated" for info in agents.list())


async def test_agent_tool_with_an_id_keeps_the_conversation_and_the_tenant(served: Served) -> None:
    agents = served.rt.services.get(AgentRuntime)
    async with mcp_session(served.url) as session:
        await session.call_tool("agents.tallier", {"message": {"add": 2}, "agent_id": "tally-1"})
        second = await session.call_tool("agents.tallier", {"message": {"add": 3}, "agent_id": "tally-1"})
    assert second.structured_content == {"agent_id": "tally-1", "result": {"count": 5}}
    owner = agents.owner("tally-1")
    assert owner is not None
    assert owner.tenant == "acme"
    # Another tenant cannot reach it: the same answer as for an agent that does not exist.
    async with mcp_session(served.url, OTHER_TENANT_KEY) as session:
        refused = await session.call_tool("agents.tallier", {"message": {"add": 1}, "agent_id": "tally-1"})
    assert refused.is_error
    assert "no agent 'tally-1' of yours" in text_of(refused)
    assert agents.state("tally-1").count == 5


async def test_an_agents_model_calls_are_charged_to_the_keys_tenant(served: Served) -> None:
    async with mcp_session(served.url, OTHER_TENANT_KEY) as session:
        result = await session.call_tool("agents.asker", {"message": "hello there"})
    assert not result.is_error, text_of(result)
    assert text_of(result)  # the model's reply
    ledger = served.rt.services.get(UsageLedger)
    await ledger.flush()
    rows = await ledger.store.fetchall("SELECT tenant, user_name, api_key FROM agentrt_usage")
    assert [tuple(row) for row in rows] == [("globex", "gus", "globex")]


async def test_a_one_off_question_that_times_out_leaves_no_agent_working(served: Served) -> None:
    agents = served.rt.services.get(AgentRuntime)
    async with mcp_session(served.url) as session:
        result = await asyncio.wait_for(
            session.call_tool("agents.tallier", {"message": {"wait": True}, "timeout": 0.2}), 5
        )
    assert result.is_error
    assert "0.2" in text_of(result)
    assert all(info.status.value == "terminated" for info in agents.list())


async def test_agent_handler_failure_is_an_error_result_without_its_text(served: Served) -> None:
    async with mcp_session(served.url) as session:
        result = await session.call_tool("agents.tallier", {"message": {"fail": "db password=hunter2"}})
    assert result.is_error
    assert "RuntimeError" in text_of(result)
    assert "hunter2" not in text_of(result)


# --- prompts ----------------------------------------------------------------------------------


async def test_prompts_list_and_get(served: Served) -> None:
    async with mcp_session(served.url) as session:
        prompts = (await session.list_prompts()).prompts
        triage = next(p for p in prompts if p.name == "triage")
        arguments = {a.name: a for a in triage.arguments or []}
        got = await session.get_prompt("triage", {"ticket": "my invoice is wrong", "urgent": "true"})
        with pytest.raises(MCPError) as missing:
            await session.get_prompt("triage", {})
    assert triage.description == "Sort a support ticket"
    assert arguments["ticket"].required is True
    assert arguments["urgent"].required is False
    assert [(m.role, m.content.text) for m in got.messages if isinstance(m.content, types.TextContent)] == [
        ("user", "You sort tickets."),
        ("user", "my invoice is wrong (urgent)"),
    ]
    assert "ticket" in missing.value.message


# --- auth, scopes -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "sk-agentrt-wrongKEY0123456789abcdefghijklm"], ids=["no key", "wrong key"])
async def test_no_key_or_a_wrong_key_is_401(served: Served, http: aiohttp.ClientSession, key: str | None) -> None:
    headers = {**ACCEPT, **(auth(key) if key else {})}
    async with http.post(served.url + "/mcp", json=INIT, headers=headers) as response:
        body = await response.json()
        assert response.status == 401
    assert body["jsonrpc"] == "2.0"
    assert body["error"]["data"]["status"] == 401
    assert "API key" in body["error"]["message"]


async def test_the_sdk_client_is_refused_without_a_key_with_our_message(served: Served) -> None:
    # The 401's body is a JSON-RPC error, so the SDK raises it as an MCPError carrying our words.
    with pytest.raises(ExceptionGroup) as caught:
        async with mcp_session(served.url, key=None):
            pass
    assert caught.group_contains(MCPError, match="missing API key", depth=None)


async def test_a_key_without_the_tools_scope_sees_no_tools_and_cannot_call_one(served: Served) -> None:
    async with mcp_session(served.url, CHAT_ONLY_KEY) as session:
        tools = (await session.list_tools()).tools
        with pytest.raises(MCPError) as caught:
            await session.call_tool("shop.shout", {"text": "x"})
        with pytest.raises(MCPError):
            await session.call_tool("agents.tallier", {"message": {"add": 1}})
        prompts = (await session.list_prompts()).prompts  # chat: the prompts, still
    assert tools == []
    assert caught.value.code == types.INVALID_PARAMS
    assert [p.name for p in prompts] == ["triage"]


async def test_a_foreign_host_header_is_refused_on_a_loopback_server(
    served: Served, http: aiohttp.ClientSession
) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not reach the tools.
    headers = {**ACCEPT, **auth(), "Host": "evil.example", "MCP-Protocol-Version": "2025-06-18"}
    async with http.post(served.url + "/mcp", json=_tool_call("shop.shout", "x"), headers=headers) as response:
        assert response.status in (400, 403, 421)
        assert b"shout" not in await response.read()


async def test_get_is_not_allowed(served: Served, http: aiohttp.ClientSession) -> None:
    async with http.get(served.url + "/mcp", headers={**auth(), "Accept": "text/event-stream"}) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"


# --- transport --------------------------------------------------------------------------------


async def test_concurrent_clients(served: Served) -> None:
    async def one(i: int) -> str:
        async with mcp_session(served.url) as session:
            return text_of(await session.call_tool("shop.shout", {"text": f"n{i}"}))

    assert await asyncio.gather(*(one(i) for i in range(8))) == [f"N{i}!" for i in range(8)]


async def test_the_server_stops_cleanly_with_the_endpoint_running(up: FakeUpstream, tmp_path: Path) -> None:
    async with mcp_served(up, tmp_path) as served:
        async with mcp_session(served.url) as session:
            await session.list_tools()
        stopped = await served.server.stop(2.0)
    assert stopped
    tasks = [t for t in asyncio.all_tasks() if t.get_name() == "agentrt-mcp-sessions"]
    assert tasks == []


# --- both protocol eras, and what an MCP toolkit returns --------------------------------------


async def test_the_2026_client_lists_calls_and_gets_prompts(served: Served) -> None:
    async with mcp_client(served.url) as client:
        assert client.protocol_version == "2026-07-28"  # the per-request era, not the handshake
        names = {tool.name for tool in (await client.list_tools()).tools}
        shouted = await client.call_tool("shop.shout", {"text": "modern"})
        asked = await client.call_tool("agents.tallier", {"message": {"add": 2}})
        prompt = await client.get_prompt("triage", {"ticket": "x"})
    assert {"shop.shout", "agents.tallier"} <= names
    assert text_of(shouted) == "MODERN!"
    assert asked.structured_content == {"result": {"count": 2}}
    assert len(prompt.messages) == 2


async def test_images_structured_content_and_error_results_of_an_mcp_toolkit_pass_through(
    up: FakeUpstream, tmp_path: Path
) -> None:
    basic = Path(__file__).parents[1] / "tools" / "mcp_servers" / "basic.py"
    tools = {"basic": {"mcp": {"command": sys.executable, "args": [str(basic)]}}}
    async with mcp_served(up, tmp_path, tools=tools) as served, mcp_session(served.url) as session:
        pixel = await session.call_tool("basic.pixel", {})
        added = await session.call_tool("basic.add", {"a": 2, "b": 3})
        failed = await session.call_tool("basic.fail", {"reason": "no luck"})
    images = [block for block in pixel.content if isinstance(block, types.ImageContent)]
    assert len(images) == 1
    assert images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n")  # basic.py's one-pixel PNG
    assert added.structured_content == {"total": 5, "terms": [2, 3]}
    assert failed.is_error
    assert "failed: no luck" in text_of(failed)


# --- the transport's lifetime -----------------------------------------------------------------


async def test_a_stop_lets_an_mcp_call_in_flight_finish(
    up: FakeUpstream, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # A raw POST (stateless: no initialize needed), so nothing but the call itself is in flight.
    async with mcp_served(up, tmp_path) as served:
        agents = served.rt.services.get(AgentRuntime)
        asking = asyncio.create_task(_post(http, served.url, _tool_call("agents.tallier", {"wait": True, "add": 1})))
        await _until(lambda: any(info.status.value == "processing" for info in agents.list()))
        stopping = asyncio.create_task(served.server.stop(5.0))
        await asyncio.sleep(0.2)
        assert not stopping.done()  # the drain waits for the call
        Tallier.gate.set()
        status, body = await asyncio.wait_for(asking, 5)
        assert await asyncio.wait_for(stopping, 5) is True
    assert status == 200
    assert b'"text":"{\\"count\\":1}"' in body  # the answer came as an SSE event before the server closed


async def test_a_client_that_hangs_up_mid_call_leaves_nothing_running(
    served: Served, http: aiohttp.ClientSession
) -> None:
    call = _tool_call("agents.tallier", {"wait": True}, agent_id="hang-1")
    request = asyncio.create_task(_post(http, served.url, call))
    await _until(lambda: "hang-1" in served.rt.services.get(AgentRuntime) or request.done())
    assert not request.done(), request.result()
    await _until(lambda: _in_flight(served) > 0)
    request.cancel()  # the client goes away while the agent is still thinking
    await _until(lambda: _in_flight(served) == 0, timeout=5)
    Tallier.gate.set()
    assert await served.server.stop(2.0) is True


async def test_a_client_that_hangs_up_while_its_call_awaits_approval_withdraws_it(
    served: Served, http: aiohttp.ClientSession
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "ops.deploy", "arguments": {"target": "prod"}},
    }
    request = asyncio.create_task(_post(http, served.url, call))
    await _until(lambda: bool(served.rt.tools.pending()))
    request.cancel()  # nobody waits for the answer any more: no one should be asked to approve it
    await _until(lambda: not served.rt.tools.pending(), timeout=5)


def _tool_call(name: str, message: Any, **arguments: Any) -> dict[str, Any]:
    params = {"name": name, "arguments": {"message": message, **arguments}}
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    headers = {**ACCEPT, **auth(), "MCP-Protocol-Version": "2025-06-18"}
    async with http.post(url + "/mcp", json=body, headers=headers) as response:
        return response.status, await response.read()


def _in_flight(served: Served) -> int:
    from agentrt.server.app import CONTEXT

    runner = served.server._runner
    return 0 if runner is None else runner.app[CONTEXT].in_flight.count


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polling state the server sets no event for
            await asyncio.sleep(0.02)
