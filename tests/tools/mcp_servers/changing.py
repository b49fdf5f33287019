"""An MCP server whose tool list changes: ``grow`` adds a tool and announces it.

``grow(name)`` registers a tool ``name`` (it returns ``"<name> here"``) and
sends ``notifications/tools/list_changed`` the way the connection's protocol
era does it: on a ``subscriptions/listen`` stream (2026-07-28) and as a plain
session notification (earlier versions). ``grow_quietly(name)`` adds one and
tells no one, as a server that does not announce changes would.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _serve import serve
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("changing", log_level="WARNING")


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called ``name``."""

    def added() -> str:
        return f"{name} here"

    server.add_tool(added, name=name, description=f"the {name} tool")
    await ctx.notify_tools_changed()
    if ctx.request_context.protocol_version < "2026":
        await ctx.request_context.session.send_tool_list_changed()
    return f"added {name}"


@server.tool()
def grow_quietly(name: str) -> str:
    """Add a tool called ``name`` without announcing it."""

    def added() -> str:
        return f"{name} here"

    server.add_tool(added, name=name, description=f"the {name} tool")
    return f"added {name}"


if __name__ == "__main__":
    serve(server)
