"""An MCP server whose ``sleep`` tool never returns on its own.

When the call is cancelled (the client's ``notifications/cancelled``, or the
HTTP request closed), the tool writes ``cancelled <tag>`` to the file named by
``MCP_TEST_MARKER``: the proof that a client's cancellation reached the server.
``ping`` answers at once, so a test can show the server still works afterwards.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import anyio
from _serve import serve
from mcp.server.mcpserver import MCPServer

server = MCPServer("hanging", log_level="WARNING")


def _mark(line: str) -> None:
    marker = os.environ.get("MCP_TEST_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@server.tool()
async def sleep(tag: str) -> str:
    """Sleep until cancelled."""
    _mark(f"started {tag}")
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        _mark(f"cancelled {tag}")
        raise
    return "unreachable"


@server.tool()
def ping() -> str:
    """Answer at once."""
    return "pong"


if __name__ == "__main__":
    serve(server)
