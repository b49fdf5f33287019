"""A call's timeout and its caller's cancellation reach the MCP server, which stops the tool (it says so in a file)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp_support import HttpMcpServer, eventually, http_spec, stdio_spec

from agentrt.errors import ToolError
from agentrt.tools.mcp import source_from_spec
from agentrt.tools.mcp._source import McpToolSource


@pytest.fixture(params=["stdio", "http"])
async def hanging(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[McpToolSource, Path]]:
    marker = tmp_path / "marker"
    env = {"MCP_TEST_MARKER": str(marker)}
    server: HttpMcpServer | None = None
    if request.param == "stdio":
        spec = stdio_spec("hanging", env=env)
    else:
        server = await HttpMcpServer("hanging", env=env).astart()
        spec = http_spec(server.url)
    source = source_from_spec("slow", spec)
    try:
        await source.start()
        yield source, marker
    finally:
        await source.close()
        if server is not None:
            server.stop()


def _lines(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


async def test_a_timeout_ends_the_call_and_cancels_the_tool_on_the_server(
    hanging: tuple[McpToolSource, Path],
) -> None:
    source, marker = hanging
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"slow\.sleep did not answer within 0\.5s; the MCP server was told"):
        await source.call("sleep", {"tag": "t1"}, timeout=0.5)
    assert time.monotonic() - began < 5
    await eventually(lambda: "cancelled t1" in _lines(marker))
    assert _lines(marker)[0] == "started t1"
    # The session is intact: the next call is answered.
    assert (await source.call("ping", {}, timeout=10)).text == "pong"
    assert source.status().restarts == 0


async def test_a_call_in_flight_does_not_hold_up_the_others(hanging: tuple[McpToolSource, Path]) -> None:
    source, marker = hanging
    slow = asyncio.create_task(source.call("sleep", {"tag": "t4"}, timeout=60))
    await eventually(lambda: "started t4" in _lines(marker))
    assert (await source.call("ping", {}, timeout=10)).text == "pong"
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow


async def test_cancelling_the_caller_cancels_the_tool_on_the_server(hanging: tuple[McpToolSource, Path]) -> None:
    source, marker = hanging
    call = asyncio.create_task(source.call("sleep", {"tag": "t2"}, timeout=60))
    await eventually(lambda: "started t2" in _lines(marker))
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await eventually(lambda: "cancelled t2" in _lines(marker))
    assert (await source.call("ping", {}, timeout=10)).text == "pong"


async def test_close_with_a_call_in_flight_ends_the_call(hanging: tuple[McpToolSource, Path]) -> None:
    source, marker = hanging
    call = asyncio.create_task(source.call("sleep", {"tag": "t3"}, timeout=60))
    await eventually(lambda: "started t3" in _lines(marker))
    began = time.monotonic()
    await source.close()
    assert time.monotonic() - began < 8  # the SDK's bounded shutdown, not the call's 60 s
    with pytest.raises(ToolError, match=r"slow\.sleep was cut short: MCP toolkit 'slow' was closed during the call"):
        await asyncio.wait_for(call, 5)
