"""How every test server runs: over stdio (the default) or streamable HTTP on a loopback port.

``python <server>.py`` serves stdio; ``python <server>.py --http PORT`` serves
streamable HTTP at ``http://127.0.0.1:PORT/mcp``. With ``MCP_TEST_TOKEN`` set,
an HTTP request without ``Authorization: Bearer <token>`` gets a 401 before the
MCP layer sees it, so a test proves a client's configured headers arrive.
With ``MCP_TEST_PIDFILE`` set, each process appends its pid there when it
starts (and ``MCP_TEST_STARTS`` too): tests find the processes a client started.
Imported by the server scripts beside it (they put this folder on ``sys.path``).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from mcp.server.mcpserver import MCPServer


def _require_token(app: Any, token: str) -> Any:
    expected = f"Bearer {token}".encode()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"missing or wrong bearer token"})
            return
        await app(scope, receive, send)

    return guarded


def serve(server: MCPServer) -> None:
    """Serve ``server`` as the command line asks (see the module docstring)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT")
    options = parser.parse_args()
    # Plain one-line logs on stderr (the SDK installs a rich handler): what a client keeps as the stderr tail.
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s", force=True)
    for variable in ("MCP_TEST_PIDFILE", "MCP_TEST_STARTS"):
        if os.environ.get(variable):
            with open(os.environ[variable], "a", encoding="utf-8") as out:
                out.write(f"{os.getpid()}\n")
    if options.http is None:
        server.run("stdio")
        return
    import uvicorn

    app: Any = server.streamable_http_app()
    token = os.environ.get("MCP_TEST_TOKEN")
    if token:
        app = _require_token(app, token)
    uvicorn.run(app, host="127.0.0.1", port=options.http, log_level="warning", lifespan="on")
