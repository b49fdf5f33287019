"""An MCP server as a tool source: list and call over stdio and streamable HTTP, results mapped onto our types."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp_support import PIXEL_PNG, HttpMcpServer, eventually, http_spec, pids_in, process_gone, stdio_spec

from agentrt.errors import ToolArgumentsError, ToolError
from agentrt.tools._source import ToolOutput, ToolSource
from agentrt.tools.mcp import source_from_spec
from agentrt.tools.mcp._source import McpToolSource
from agentrt.types import ImagePart

BASIC_TOOLS = ["add", "echo", "explode", "fail", "pixel", "refuse", "resource", "whoami"]


@pytest.fixture(scope="module")
def http_basic() -> Iterator[HttpMcpServer]:
    with HttpMcpServer("basic", env={"MCP_TEST_TOKEN": "s3cret"}) as server:
        yield server


@pytest.fixture(params=["stdio", "http"])
async def basic(request: pytest.FixtureRequest) -> AsyncIterator[McpToolSource]:
    if request.param == "stdio":
        spec = stdio_spec("basic")
    else:
        server: HttpMcpServer = request.getfixturevalue("http_basic")
        spec = http_spec(server.url, headers={"Authorization": "Bearer s3cret"})
    source = source_from_spec("kit", spec)
    await source.start()
    yield source
    await source.close()


async def test_the_source_lists_the_servers_tools_with_their_schemas(basic: McpToolSource) -> None:
    assert isinstance(basic, ToolSource)
    assert sorted(t.name for t in basic.tools()) == BASIC_TOOLS
    add = next(t for t in basic.tools() if t.name == "add")
    assert add.full_name == "kit.add"
    assert add.source == "mcp"
    assert add.description == "Add two integers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    status = basic.status()
    assert status.state == "ready"
    assert status.restarts == 0
    assert status.extra["tools"] == len(BASIC_TOOLS)
    assert status.extra["protocol_version"]


async def test_text_and_structured_results(basic: McpToolSource) -> None:
    assert (await basic.call("echo", {"text": "héllo"}, timeout=10)).text == "héllo"
    added = await basic.call("add", {"a": 2, "b": 40}, timeout=10)
    assert added.structured == {"total": 42, "terms": [2, 40]}
    assert added.is_error is False
    assert '"total": 42' in added.text


async def test_an_image_result_becomes_an_image_part(basic: McpToolSource) -> None:
    out = await basic.call("pixel", {}, timeout=10)
    assert out.images == (ImagePart(data=PIXEL_PNG, media_type="image/png"),)
    assert out.text == ""


async def test_an_embedded_text_resource_becomes_text(basic: McpToolSource) -> None:
    assert (await basic.call("resource", {}, timeout=10)).text == "the memo"


async def test_a_tool_reporting_failure_and_a_tool_raising_are_error_results(basic: McpToolSource) -> None:
    failed = await basic.call("fail", {"reason": "disk full"}, timeout=10)
    assert failed == ToolOutput(text="failed: disk full", is_error=True)
    exploded = await basic.call("explode", {}, timeout=10)
    assert exploded.is_error is True
    assert "explode" in exploded.text


async def test_a_protocol_error_is_a_tool_error_with_the_servers_message(basic: McpToolSource) -> None:
    with pytest.raises(ToolError, match=r"kit\.refuse failed: .*refused: this tool never runs"):
        await basic.call("refuse", {}, timeout=10)


async def test_an_unknown_tool_is_refused_naming_the_tools_the_server_has(basic: McpToolSource) -> None:
    with pytest.raises(ToolError, match="has no tool 'nope': its tools are add, echo, explode") as caught:
        await basic.call("nope", {}, timeout=10)
    assert not isinstance(caught.value, ToolArgumentsError)


async def test_arguments_that_do_not_fit_the_schema_are_refused_naming_each_problem(basic: McpToolSource) -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        await basic.call("add", {"a": "two", "secret": "hunter2"}, timeout=10)
    assert caught.value.tool == "kit.add"
    assert any(p.startswith("a: must match type") for p in caught.value.problems)
    assert any("'b'" in p and "required" in p for p in caught.value.problems)
    assert "two" not in str(caught.value)  # the values given are not repeated


async def test_http_headers_reach_the_server(http_basic: HttpMcpServer) -> None:
    source = source_from_spec("kit", http_spec(http_basic.url, headers={"Authorization": "Bearer s3cret"}))
    await source.start()
    try:
        assert (await source.call("whoami", {}, timeout=10)).text == "Bearer s3cret"
        assert "s3cret" not in repr(source.status())
        assert source.status().extra["url"] == http_basic.url
    finally:
        await source.close()


async def test_an_http_server_refusing_our_credentials_fails_the_start_clearly(http_basic: HttpMcpServer) -> None:
    source = source_from_spec("search", http_spec(http_basic.url, headers={"Authorization": "Bearer wrong"}))
    with pytest.raises(ToolError, match=r"MCP toolkit 'search' did not start \(url http://127\.0\.0\.1:\d+/mcp\)"):
        await source.start()
    assert source.status().state == "failed"


@pytest.mark.parametrize("hang", [False, True], ids=["exits", "never-answers"])
async def test_a_server_that_never_starts_fails_with_its_stderr_tail(hang: bool) -> None:
    args = ("--hang",) if hang else ()
    source = source_from_spec("github", stdio_spec("broken", *args, start_timeout=2.0 if hang else 15.0))
    with pytest.raises(ToolError) as caught:
        await source.start()
    message = str(caught.value)
    assert message.startswith("MCP toolkit 'github' did not start (command ")
    assert "GITHUB_TOKEN is not set, cannot continue" in message
    assert ("within 2s" in message) if hang else ("closed the connection" in message)
    assert source.status().state == "failed"
    with pytest.raises(ToolError, match="cannot be called: MCP toolkit 'github' is failed"):
        await source.call("anything", {}, timeout=1)


async def test_a_start_cancelled_midway_leaves_no_process_behind(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    source = source_from_spec("slow", stdio_spec("broken", "--hang", env={"MCP_TEST_PIDFILE": str(pidfile)}))
    starting = asyncio.create_task(source.start())
    await eventually(lambda: len(pids_in(pidfile)) == 1)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    [pid] = pids_in(pidfile)
    assert process_gone(pid)
    assert source.status().state == "stopped"


async def test_a_secret_the_server_prints_on_stderr_is_masked_in_the_error() -> None:
    source = source_from_spec("github", stdio_spec("broken", env={"BROKEN_TOKEN": "ghp_0123456789abcdef"}))
    with pytest.raises(ToolError) as caught:
        await source.start()
    assert "the token *** was rejected" in str(caught.value)
    assert "ghp_0123456789abcdef" not in str(caught.value)


async def test_a_command_that_does_not_exist_fails_the_start_clearly() -> None:
    spec = stdio_spec("basic")
    spec = type(spec)(server=type(spec.server)(command="/nonexistent/mcp-server"), start_timeout=5)  # type: ignore[call-arg]
    source = source_from_spec("ghost", spec)
    with pytest.raises(ToolError, match=r"did not start .*the command was not found"):
        await source.start()


async def test_close_leaves_no_process_behind(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    source = source_from_spec("kit", stdio_spec("basic", env={"MCP_TEST_PIDFILE": str(pidfile)}))
    await source.start()
    [pid] = pids_in(pidfile)
    assert not process_gone(pid)
    await source.close()
    assert process_gone(pid)  # exited and reaped: no orphan, no zombie
    assert source.status().state == "stopped"
    with pytest.raises(ToolError, match="is stopped"):
        await source.call("echo", {"text": "x"}, timeout=1)


async def test_the_server_gets_the_configured_env_and_cwd(tmp_path: Path) -> None:
    # The basic server writes its pid where MCP_TEST_PIDFILE says, relative to its working directory.
    spec = stdio_spec("basic", env={"MCP_TEST_PIDFILE": "pids.txt"})
    spec = type(spec)(server=type(spec.server)(spec.server.command, spec.server.args, spec.server.env, tmp_path))  # type: ignore[arg-type,union-attr]
    source = source_from_spec("kit", spec)
    await source.start()
    await source.close()
    assert len(pids_in(tmp_path / "pids.txt")) == 1


def test_importing_the_package_does_not_import_the_sdk() -> None:
    code = "import agentrt.tools, agentrt.tools.mcp, sys; print('mcp' in sys.modules, 'mcp_types' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


async def test_concurrent_calls_share_the_session_and_each_gets_its_own_answer(basic: McpToolSource) -> None:
    answers = await asyncio.gather(*(basic.call("echo", {"text": f"n{i}"}, timeout=20) for i in range(20)))
    assert [a.text for a in answers] == [f"n{i}" for i in range(20)]
