"""The MCP server of a runtime over stdio: ``agentrt mcp serve --stdio``.

One client, one long session: the process's stdin and stdout carry the
protocol and nothing else (the SDK points fd 1 at stderr while it serves, and
the CLI sends the runtime's console log to stderr). The session ends when the
client closes stdin. Unlike stateless HTTP, this session can be told when the
tool list changes: ``notifications/tools/list_changed`` is sent when a
toolkit is added, removed or changes its tools.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from mcp.server import NotificationOptions
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.stdio import stdio_server

from agentrt.mcp_server._caller import Caller
from agentrt.mcp_server._server import build_server

if TYPE_CHECKING:
    from agentrt.runtime import Runtime

__all__ = ["serve_stdio"]

_log = structlog.get_logger("agentrt.mcp_server")


async def serve_stdio(rt: Runtime, caller: Caller) -> None:
    """Serve ``rt`` to the client on stdin/stdout, as ``caller``, until the client closes stdin."""
    sessions: list[ServerSession] = []

    def caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller:
        if not sessions:  # the one session of this process: kept to tell it of tool list changes
            sessions.append(ctx.session)
        return caller

    server = build_server(rt, caller_of)
    changed = asyncio.Event()
    _watch_tool_list(rt, changed.set)
    options = server.create_initialization_options(NotificationOptions(tools_changed=True))
    notifier = asyncio.create_task(_notify_changes(changed, sessions), name="agentrt-mcp-list-changed")
    try:
        async with stdio_server() as (read_stream, write_stream):
            _log.info("mcp_stdio_serving", user=caller.principal.user, tenant=caller.principal.tenant)
            await server.run(read_stream, write_stream, options)
    finally:
        notifier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await notifier


async def _notify_changes(changed: asyncio.Event, sessions: list[ServerSession]) -> None:
    while True:
        await changed.wait()
        changed.clear()
        if sessions:
            try:
                await sessions[0].send_tool_list_changed()
            except Exception as err:  # the client went away: the session ends on its own
                _log.debug("mcp_list_changed_not_sent", error=type(err).__name__)


def _watch_tool_list(rt: Runtime, on_change: Callable[[], None]) -> None:
    """Call ``on_change`` after the runtime's tool list changes (a toolkit's list, a reload)."""
    from agentrt.tools._governance import ToolGovernor

    if ToolGovernor in rt.services:
        rt.tools.subscribe_changes(on_change)
