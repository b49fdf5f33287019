"""An MCP server that dies: ``die`` ends the process at once, as a crash would.

``echo`` answers normally, so a test can show calls work again after the
client restarted the server. With ``MCP_TEST_CRASH_AT_START`` naming a file
that exists, the process exits at start (exit status 3, a line on stderr): a
server that stays down while the file is there. With ``MCP_TEST_LAUNCHES``
set, every launch appends its wall-clock time there (crashing ones too).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _serve import serve
from mcp.server.mcpserver import MCPServer

server = MCPServer("crashy", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Repeat the text."""
    return text


@server.tool()
def die() -> str:
    """Exit the process without answering."""
    sys.stderr.write("crashy: dying on request\n")
    sys.stderr.flush()
    os._exit(1)


if __name__ == "__main__":
    if os.environ.get("MCP_TEST_LAUNCHES"):
        with open(os.environ["MCP_TEST_LAUNCHES"], "a", encoding="utf-8") as launches:
            launches.write(f"{time.time()}\n")
    flag = os.environ.get("MCP_TEST_CRASH_AT_START")
    if flag and Path(flag).exists():
        sys.stderr.write("crashy: refusing to start while the crash flag is set\n")
        sys.exit(3)
    serve(server)
