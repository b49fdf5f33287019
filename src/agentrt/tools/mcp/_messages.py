"""What a user reads when an MCP server fails: one line per cause, the stderr tail, and no secret."""

from __future__ import annotations

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError

from agentrt.tools.mcp._spec import HttpServer, StdioServer
from agentrt.tools.mcp._stderr import StderrTail

__all__ = ["describe_error", "redact", "start_failure"]


def describe_error(exc: BaseException) -> str:
    """The first real error inside (task groups wrap transport failures in exception groups), in one line."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        if not inner:
            break
        exc = inner[0]
    if isinstance(exc, MCPError):
        if exc.code == types.CONNECTION_CLOSED:
            return "the server closed the connection"
        return f"{exc.message} (MCP error {exc.code})"
    if isinstance(exc, FileNotFoundError):
        return f"the command was not found ({exc.strerror})"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {text}"


def redact(server: StdioServer | HttpServer, text: str) -> str:
    """``text`` without the URL's credentials or query, nor header values (an HTTP error may quote them)."""
    if isinstance(server, HttpServer):
        text = text.replace(server.url, server.display_url)
        for value in server.headers.values():
            if len(value) >= 4:
                text = text.replace(value, "***")
    return text


def start_failure(toolkit: str, server: StdioServer | HttpServer, stderr: StderrTail | None, reason: str) -> str:
    """Why a toolkit did not start: the cause, where, and what the server said (stdio) or what to check (HTTP)."""
    if isinstance(server, StdioServer):
        said = stderr.text() if stderr is not None else "(not kept)"
        return (
            f"MCP toolkit {toolkit!r} did not start (command {server.command!r}): {reason}. "
            f"The last lines the server wrote to stderr:\n{said}"
        )
    return (
        f"MCP toolkit {toolkit!r} did not start (url {server.display_url}): {reason}. "
        "Check that the server runs there and that the headers it needs (e.g. Authorization) are set"
    )
