"""`agentrt mcp serve --stdio` end to end: the official `mcp` stdio client launches the command and
lists, calls and renders through it; stdout carries the protocol only, whatever the log says."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp_types as types
import orjson
import yaml
from mcp import ClientSession, StdioServerParameters
from mcp.client.session import IncomingMessage, MessageHandlerFnT
from mcp.client.stdio import stdio_client

from agentrt.server import hash_key

AGENTRT = str(Path(sys.executable).parent / "agentrt")
KEY = "sk-agentrt-stdioKEY0123456789abcdefghijklm"

AGENT_MODULE = '''
from agentrt.agents import Agent


class Echo(Agent[dict]):
    """Says back what it was told."""

    async def handle(self, activity, ctx):
        return {"echo": activity.payload}
'''


def write_config(folder: Path, **sections: Any) -> Path:
    (folder / "stdio_echo_agent.py").write_text(AGENT_MODULE, encoding="utf-8")
    config = {
        # Console logging on stdout at debug level: if any of it reached stdout, the client would choke.
        "logging": {"level": "debug", "console": {"format": "logfmt", "stream": "stdout"}},
        "store": {"url": f"sqlite:///{folder / 'stdio.db'}"},
        "providers": {"offline": {"kind": "local"}},
        "models": {"local": {"provider": "offline", "capabilities": ["chat"]}},
        "tools": {"calc": {"builtin": "calculator"}},
        "agents": {"echo": {"class": "stdio_echo_agent:Echo"}},
        "prompts": {"hello": {"inputs": {"name": "str"}, "user": "Hello {{ name }}"}},
        "server": {
            "api_keys": [
                {"key_sha256": hash_key(KEY), "name": "ci", "user": "ci-bot", "tenant": "ci", "scopes": ["chat"]}
            ]
        },
    }
    config.update(sections)
    path = folder / "agentrt.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def stdio_session(
    config: Path, *args: str, on_message: MessageHandlerFnT | None = None
) -> AsyncIterator[ClientSession]:
    """A session with `agentrt mcp serve --stdio` (the SDK's stdio client starts and ends the process)."""
    params = StdioServerParameters(command=AGENTRT, args=["mcp", "serve", "--stdio", "--config", str(config), *args])
    async with stdio_client(params) as (read, write), ClientSession(read, write, message_handler=on_message) as session:
        await session.initialize()
        yield session


def text_of(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def test_stdio_lists_tools_and_agents_and_calls_them(tmp_path: Path) -> None:
    async with stdio_session(write_config(tmp_path), "--user", "bob", "--tenant", "acme") as session:
        await _lists_and_calls(session)


async def _lists_and_calls(session: ClientSession) -> None:
    names = {tool.name for tool in (await session.list_tools()).tools}
    assert "agents.echo" in names
    calc = next(name for name in names if name.startswith("calc."))
    schema = next(t for t in (await session.list_tools()).tools if t.name == calc).input_schema
    result = await session.call_tool(calc, {next(iter(schema["properties"])): "6 * 7"})
    assert not result.is_error
    assert "42" in text_of(result)
    asked = await session.call_tool("agents.echo", {"message": "hi"})
    assert orjson.loads(text_of(asked)) == {"echo": "hi"}


async def test_stdio_prompts(tmp_path: Path) -> None:
    async with stdio_session(write_config(tmp_path)) as session:
        assert [p.name for p in (await session.list_prompts()).prompts] == ["hello"]
        got = await session.get_prompt("hello", {"name": "Ada"})
    assert [m.content.text for m in got.messages if isinstance(m.content, types.TextContent)] == ["Hello Ada"]


async def test_stdio_as_a_key_takes_its_scopes(tmp_path: Path) -> None:
    async with stdio_session(write_config(tmp_path), "--key", KEY) as session:
        assert (await session.list_tools()).tools == []  # the key has `chat` only: prompts, no tools
        assert [p.name for p in (await session.list_prompts()).prompts] == ["hello"]


async def test_stdio_tells_the_client_when_the_tool_list_changes(tmp_path: Path) -> None:
    # An MCP toolkit whose `grow` tool adds a tool and announces it: the registry refreshes, and our
    # stdio session passes the news on as notifications/tools/list_changed.
    changing = Path(__file__).parents[1] / "tools" / "mcp_servers" / "changing.py"
    tools = {"calc": {"builtin": "calculator"}, "grower": {"mcp": {"command": sys.executable, "args": [str(changing)]}}}
    changed = asyncio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with stdio_session(write_config(tmp_path, tools=tools), on_message=on_message) as session:
        before = {tool.name for tool in (await session.list_tools()).tools}
        assert "grower.grow" in before
        assert "grower.sprout" not in before
        grown = await session.call_tool("grower.grow", {"name": "sprout"})
        assert not grown.is_error, text_of(grown)
        await asyncio.wait_for(changed.wait(), 10)
        after = {tool.name for tool in (await session.list_tools()).tools}
        assert "grower.sprout" in after
        assert text_of(await session.call_tool("grower.sprout", {})) == "sprout here"


def test_an_unknown_key_is_refused_with_what_to_do(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    args = [AGENTRT, "mcp", "serve", "--stdio", "--config", str(config), "--key", "sk-agentrt-not-a-key"]
    done = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 1
    assert "--key is not one of server.api_keys" in done.stderr
    assert "sk-agentrt-not-a-key" not in done.stderr + done.stdout  # a mistyped key is often a real one
    assert done.stdout == ""  # stdout is the protocol's, even when it fails


def test_a_key_and_a_user_together_are_refused() -> None:
    args = [AGENTRT, "mcp", "serve", "--stdio", "--key", KEY, "--user", "bob"]
    done = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 1
    assert "not both" in done.stderr
