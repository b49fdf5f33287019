"""The MCP server of ``bench_tools``: one ``echo`` tool, over stdio or (``--http PORT``) streamable HTTP.

Built with the official ``mcp`` SDK, so the benchmark measures the SDK's server
and client as users run them, and only that on the other side of agentrt.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("bench", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Repeat the text."""
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, force=True)
    if options.http is None:
        server.run("stdio")
        return
    import uvicorn

    app: Any = server.streamable_http_app()
    uvicorn.run(app, host="127.0.0.1", port=options.http, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
