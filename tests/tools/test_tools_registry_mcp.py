"""MCP toolkits in the registry: listed with the others, filtered, called, restarted when their config changes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from mcp_support import script

from agentrt.config import Config
from agentrt.config._tools import ToolkitSection
from agentrt.errors import RuntimeStateError, ToolError
from agentrt.tools.registry import ToolRegistry


def stdio_toolkit(pidfile: Path, **extra: Any) -> dict[str, Any]:
    server = {"command": sys.executable, "args": [str(script("basic"))], "env": {"MCP_TEST_PIDFILE": str(pidfile)}}
    return {"mcp": server, **extra}


def toolkits(data: dict[str, Any]) -> dict[str, ToolkitSection]:
    return Config.model_validate({"tools": data}).tools


def pids(pidfile: Path) -> list[int]:
    return [int(line) for line in pidfile.read_text().split()] if pidfile.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): read its state.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


async def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_an_mcp_toolkit_is_listed_filtered_and_called(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    registry = ToolRegistry(
        toolkits(
            {
                "kit": stdio_toolkit(
                    pidfile, include=["echo", "add", "fail"], tools={"echo": {"description": "Say it"}}
                ),
                "calc": {"builtin": "calculator"},
            }
        ),
        base_dir=tmp_path,
    )
    await registry.start()
    try:
        assert [i.full_name for i in registry.list()] == ["calc.evaluate", "kit.echo", "kit.add", "kit.fail"]
        echo = registry.get("kit.echo")
        assert (echo.source, echo.description) == ("mcp", "Say it")
        assert (await registry.call("kit.echo", {"text": "hello"})).text == "hello"
        added = await registry.call("kit.add", {"a": 2, "b": 3})
        assert added.structured is not None
        assert added.structured["total"] == 5
        failed = await registry.call("kit.fail", {"reason": "no stock"})
        assert failed.is_error
        assert registry.status()["kit"].state == "ready"
        assert registry.health().healthy
    finally:
        await registry.close()
    (pid,) = pids(pidfile)
    assert await wait_gone(pid), "the MCP server outlived the registry"


async def test_a_changed_mcp_toolkit_is_restarted_and_a_removed_one_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    registry = ToolRegistry(toolkits({"kit": stdio_toolkit(pidfile)}), base_dir=tmp_path)
    await registry.start()
    try:
        (first,) = pids(pidfile)
        await registry.reconfigure(toolkits({"kit": stdio_toolkit(pidfile, timeout="5s")}))
        assert pids(pidfile) == [first]  # governance only: the same server goes on
        assert registry.settings("kit.echo").timeout == 5.0

        changed = stdio_toolkit(pidfile)
        changed["mcp"]["env"]["EXTRA"] = "1"
        await registry.reconfigure(toolkits({"kit": changed}))
        first_again, second = pids(pidfile)
        assert first_again == first
        assert await wait_gone(first), "the old server was not stopped"
        assert (await registry.call("kit.echo", {"text": "again"})).text == "again"

        await registry.reconfigure(toolkits({"calc": {"builtin": "calculator"}}))
        assert await wait_gone(second), "the removed toolkit's server was not stopped"
        assert [i.full_name for i in registry.list()] == ["calc.evaluate"]
    finally:
        await registry.close()


async def test_a_toolkit_that_fails_to_start_stops_the_others_and_is_named(tmp_path: Path) -> None:
    registry = ToolRegistry(
        toolkits(
            {
                "calc": {"builtin": "calculator"},
                "bad": {"mcp": {"command": str(tmp_path / "no-such-server"), "start_timeout": "5s"}},
            }
        ),
        base_dir=tmp_path,
    )
    with pytest.raises(ToolError, match=r"MCP toolkit 'bad' did not start .*the command was not found"):
        await registry.start()
    with pytest.raises(RuntimeStateError):
        registry.list()


async def test_health_names_a_toolkit_whose_server_is_restarting(tmp_path: Path) -> None:
    server = {"command": sys.executable, "args": [str(script("crashy"))]}
    registry = ToolRegistry(toolkits({"kit": {"mcp": server}, "calc": {"builtin": "calculator"}}), base_dir=tmp_path)
    await registry.start()
    try:
        assert registry.health().detail == "2 toolkits, 3 tools"
        with contextlib.suppress(Exception):  # the server dies under the call: how the call fails is the source's
            await registry.call("kit.die", {}, timeout=5)
        report = None
        for _ in range(200):
            if registry.status()["kit"].state != "ready":
                report = registry.health()
                break
            await asyncio.sleep(0.01)
        assert report is not None, "the source never left the ready state"
        assert report.healthy  # one toolkit restarting does not take the runtime out of service
        assert report.detail is not None
        assert "kit=" in report.detail
        for _ in range(500):
            if registry.status()["kit"].state == "ready":
                break
            await asyncio.sleep(0.02)
        assert (await registry.call("kit.echo", {"text": "back"})).text == "back"
        assert registry.health().detail == "2 toolkits, 3 tools"
    finally:
        await registry.close()


async def test_an_override_of_a_tool_the_server_does_not_have_is_warned_about(tmp_path: Path) -> None:
    kit = stdio_toolkit(tmp_path / "pids", tools={"ecoh": {"approval": "required"}, "echo": {"cost": 0.1}})
    registry = ToolRegistry(toolkits({"kit": kit}), base_dir=tmp_path)
    with structlog.testing.capture_logs() as logs:
        await registry.start()
        try:
            registry.list()
            await registry.reconfigure(toolkits({"kit": {**kit, "timeout": "9s"}}))  # the index is rebuilt
            registry.list()
        finally:
            await registry.close()
    warnings = [entry for entry in logs if entry["event"] == "tool_override_unknown"]
    assert len(warnings) == 1  # once, not at every listing
    assert (warnings[0]["toolkit"], warnings[0]["tool"]) == ("kit", "ecoh")
    assert "echo" in warnings[0]["tools"]
