"""Governed calls of real MCP servers (the test servers, over stdio and streamable HTTP)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from mcp_support import HttpMcpServer, script

from agentrt import Runtime
from agentrt.store import AuditRecord, AuditTrail


def _config(tmp_path: Path, mcp: dict[str, Any], **sections: Any) -> dict[str, Any]:
    return {
        "logging": {"console": {"format": "off"}},
        "store": {"url": f"sqlite:///{tmp_path / 'agentrt.db'}"},
        "tools": {"basic": {"mcp": mcp, "secret_fields": ["text"], "tools": {"echo": {"approval": "required"}}}},
        **sections,
    }


async def _rows(rt: Runtime, tool: str) -> list[AuditRecord]:
    trail = rt.services.get(AuditTrail)
    await trail.flush()
    return await trail.query(tool=tool)


async def test_an_mcp_tool_over_stdio_waits_for_approval_and_its_failures_are_audited(tmp_path: Path) -> None:
    stdio = {"command": sys.executable, "args": [str(script("basic"))]}
    rules = [{"name": "no-refusals", "effect": "deny", "match": {"tools": ["basic.refuse"]}}]
    async with Runtime.open(_config(tmp_path, stdio, policies={"rules": rules}), plugins=False) as rt:
        events = rt.tools.subscribe()
        call = asyncio.create_task(rt.tools.call("basic.echo", {"text": "secret words"}, user="alice"))
        requested = await asyncio.wait_for(anext(events), 20)
        assert requested.request.arguments == {"text": "[REDACTED]"}
        rt.tools.approve(requested.request.id, by="bob")
        echoed = await call
        failed = await rt.tools.call("basic.fail", {"reason": "disk full"}, user="alice")
        refused = await rt.tools.call("basic.refuse", user="alice")
        added = await rt.tools.call("basic.add", {"a": 2, "b": 3}, user="alice")
        (echo_row,) = await _rows(rt, "basic.echo")
        (fail_row,) = await _rows(rt, "basic.fail")
        (refuse_row,) = await _rows(rt, "basic.refuse")
    assert (echoed.text, echoed.is_error) == ("secret words", False)
    assert (echo_row.decision, echo_row.outcome) == ("approved", "ok")
    assert json.loads(echo_row.detail or "{}")["arguments"] == {"text": "[REDACTED]"}
    assert failed.is_error
    assert "disk full" in failed.text
    assert (fail_row.decision, fail_row.outcome) == ("allow", "error")  # the tool's own isError
    assert refused.is_error
    assert "denies the tool call 'basic.refuse'" in refused.text
    assert (refuse_row.decision, refuse_row.outcome) == ("deny", "denied")
    assert added.structured == {"total": 5, "terms": [2, 3]}


async def test_an_mcp_tool_over_http_is_limited_per_tool_exactly(tmp_path: Path) -> None:
    server = await HttpMcpServer("basic").astart()
    try:
        limits = [{"scope": "user+tool", "tools": ["basic.*"], "rpm": 3}]
        config = _config(tmp_path, {"url": server.url}, policies={"limits": limits})
        async with Runtime.open(config, plugins=False) as rt:
            outputs = await asyncio.gather(
                *(rt.tools.call("basic.add", {"a": i, "b": 1}, user="alice") for i in range(8))
            )
            other = await rt.tools.call("basic.pixel", user="alice")  # its own counter: the scope has `tool`
            rows = await _rows(rt, "basic.add")
    finally:
        server.stop()
    assert sum(not output.is_error for output in outputs) == 3
    assert all("rate limit" in output.text for output in outputs if output.is_error)
    assert not other.is_error
    assert other.images
    assert sorted(row.decision for row in rows) == ["allow"] * 3 + ["deny"] * 5
