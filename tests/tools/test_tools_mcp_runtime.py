"""End to end: a config with an MCP toolkit, a runtime, and a model (on a fake upstream) calling its tool."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp_support import HttpMcpServer, eventually, pids_in, process_gone, script

from agentrt import Runtime
from agentrt.errors import ToolError
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools.registry import ToolRegistry


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


def _config(up: FakeUpstream, tmp_path: Path, toolkit: dict[str, Any]) -> dict[str, Any]:
    return {
        "logging": {"console": {"format": "off"}},
        "store": {"url": f"sqlite:///{tmp_path / 'rt.db'}"},
        "providers": {
            "oai": {"kind": "openai", "api_key": "sk-test-key-0123456789", "base_url": up.openai_base_url},
        },
        "models": {"primary": {"provider": "oai", "name": "gpt-test", "capabilities": ["chat", "tools"]}},
        "tools": {"mcp_kit": toolkit},
    }


async def test_a_model_calls_an_mcp_tool_through_the_runtime(up: FakeUpstream, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    toolkit = {
        "mcp": {"command": sys.executable, "args": [str(script("basic"))], "env": {"MCP_TEST_PIDFILE": str(pidfile)}}
    }
    up.script(Reply(tool_calls=[("mcp_kit__add", {"a": 19, "b": 23})]), Reply(text="19 + 23 = 42"))
    async with Runtime.open(_config(up, tmp_path, toolkit), plugins=False) as rt:
        registry = rt.services.get(ToolRegistry)
        assert registry.status()["mcp_kit"].state == "ready"
        assert "mcp_kit.echo" in {info.full_name for info in registry.list()}
        completion = await rt.generate("primary", "what is 19 + 23?", tools=["mcp_kit.add", "mcp_kit.echo"])
        [pid] = pids_in(pidfile)
        assert not process_gone(pid)
    assert completion.text == "19 + 23 = 42"
    first, second = up.requests
    offered = sorted(t["function"]["name"] for t in first.body["tools"])
    assert offered == ["mcp_kit__add", "mcp_kit__echo"]
    add = next(t["function"] for t in first.body["tools"] if t["function"]["name"] == "mcp_kit__add")
    assert add["description"] == "Add two integers."
    assert add["parameters"]["required"] == ["a", "b"]
    answer = second.body["messages"][-1]
    assert answer["role"] == "tool"
    assert '"total": 42' in answer["content"]
    assert process_gone(pid)  # the runtime's stop stopped the server


async def test_a_runtime_whose_mcp_server_cannot_start_says_which_and_why(up: FakeUpstream, tmp_path: Path) -> None:
    toolkit = {"mcp": {"command": sys.executable, "args": [str(script("broken"))]}}
    with pytest.raises(Exception, match="GITHUB_TOKEN is not set") as caught:
        async with Runtime.open(_config(up, tmp_path, toolkit), plugins=False):
            pass
    assert "mcp_kit" in str(caught.value)


async def test_an_http_toolkits_headers_come_from_the_environment_and_reach_the_server(
    up: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_KIT_TOKEN", "tok-from-env")
    with HttpMcpServer("basic", env={"MCP_TEST_TOKEN": "tok-from-env"}) as server:
        toolkit = {"mcp": {"url": server.url, "headers": {"Authorization": "Bearer ${MCP_KIT_TOKEN}"}}}
        async with Runtime.open(_config(up, tmp_path, toolkit), plugins=False) as rt:
            registry = rt.services.get(ToolRegistry)
            out = await registry.call("mcp_kit.whoami", {})
            status = registry.status()["mcp_kit"]
    assert out.text == "Bearer tok-from-env"
    assert status.state == "ready"
    assert status.extra["transport"] == "http"
    assert "tok-from-env" not in repr(status)


async def test_a_tool_the_server_adds_is_in_the_registry_and_callable_by_a_model(
    up: FakeUpstream, tmp_path: Path
) -> None:
    toolkit = {"mcp": {"command": sys.executable, "args": [str(script("changing"))]}}
    up.script(Reply(tool_calls=[("mcp_kit__leaf", {})]), Reply(text="the leaf answered"))
    async with Runtime.open(_config(up, tmp_path, toolkit), plugins=False) as rt:
        registry = rt.services.get(ToolRegistry)
        changes: list[int] = []
        registry.subscribe_changes(lambda: changes.append(len(registry.list())))
        with pytest.raises(ToolError, match=r"mcp_kit\.leaf"):
            registry.select(["mcp_kit.leaf"])
        await registry.call("mcp_kit.grow", {"name": "leaf"})
        await eventually(lambda: "mcp_kit.leaf" in {info.full_name for info in registry.list()})
        assert changes[-1:] == [3]  # grow, grow_quietly, leaf
        completion = await rt.generate("primary", "ask the leaf", tools=["mcp_kit.leaf"])
    assert completion.text == "the leaf answered"
    assert up.requests[1].body["messages"][-1]["content"] == "leaf here"
