"""``POST /mcp``: the runtime's tools, agents and prompts to MCP clients (streamable HTTP).

Declared as a :class:`~agentrt.server.routing.Route`, so the one middleware
authenticates it as every other route (``Authorization: Bearer <key>``; no key
or a wrong one: 401), counts it in the metrics and lists it in the OpenAPI
document. The key's principal (tenant, user, tags) is the principal of every
tool call and agent ask the request makes, and its scopes decide what it sees:
``tools`` the configured tools, ``agents:write`` the agent tools, ``chat`` the
prompts (see :mod:`agentrt.mcp_server`).

The protocol is the ``mcp`` SDK's streamable HTTP transport, in stateless
mode (why: :mod:`agentrt.mcp_server.http`); only POST is served, so a GET
(the stream a stateful server would push on) or a DELETE (ending a session
there is none of) is a 405, as MCP allows.

Lazy: the SDK (about half a second to import) is imported and the transport
started on the first request to ``/mcp``, not when the server starts; it
stops when the app is cleaned up, after the requests in flight were drained.
Errors the middleware answers here (401, 403, 408, 413) are JSON-RPC error
bodies, which MCP clients read, not OpenAI's shape.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from pydantic import BaseModel

from agentrt.server.errors import ErrorInfo
from agentrt.server.requests import REQUEST_ID, read_body
from agentrt.server.routing import API_KEY, ErrorShape, Route, ServerContext

if TYPE_CHECKING:
    from agentrt.mcp_server import Caller, McpHttpEndpoint
    from agentrt.server.auth import ApiKey

__all__ = ["MCP_PATH", "McpRoutes", "caller_of_key", "mcp_installed"]

MCP_PATH = "/mcp"

# JSON-RPC's "server error" range: what an MCP client reads from a refused HTTP request.
_HTTP_ERROR_CODE = -32001


def mcp_installed() -> bool:
    """Whether the ``mcp`` SDK (the ``mcp`` extra) is installed: without it there is no ``/mcp``."""
    return importlib.util.find_spec("mcp") is not None


def caller_of_key(key: ApiKey, request_id: str | None) -> Caller:
    """The MCP caller an API key makes."""
    from agentrt.mcp_server import Caller

    return Caller(key.principal, key.scopes, key.admin, key.label, key.max_agents, request_id)


class JsonRpcError(BaseModel):
    """An error of the HTTP layer, as a JSON-RPC error response (``id`` null: no request was read)."""

    jsonrpc: str = "2.0"
    id: str | int | None = None
    error: dict[str, Any]


def _jsonrpc_error(info: ErrorInfo, request_id: str | None) -> bytes:
    error: dict[str, Any] = {"code": _HTTP_ERROR_CODE, "message": info.message}
    data = {"status": info.status, "code": info.code, "request_id": request_id}
    error["data"] = {k: v for k, v in data.items() if v is not None}
    return orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error})


class McpRoutes:
    """The ``/mcp`` route of one app, and the transport behind it (started on first use)."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self._endpoint: McpHttpEndpoint | None = None
        self._starting = asyncio.Lock()
        self._stopped = False
        ctx.cleanups.append(self.stop)

    def routes(self) -> list[Route]:
        return [
            Route(
                "POST",
                MCP_PATH,
                self.handle,
                "mcp",
                "The MCP endpoint (streamable HTTP): the configured tools, the agents as tools, the prompts",
                "mcp",
                responses={200: "text/event-stream", 202: "text/plain"},
                errors=(400, 403, 404, 405, 406, 408, 413, 415),
                error_shape=ErrorShape(_jsonrpc_error, JsonRpcError),
                description="Model Context Protocol, streamable HTTP transport, stateless (no Mcp-Session-Id). "
                "Send JSON-RPC messages with `Accept: application/json, text/event-stream`. The key's scopes decide "
                "what is listed: `tools` (configured tools), `agents:write` (agents.<type>), `chat` (prompts).",
            )
        ]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        settings = self._ctx.rt.config.server
        await read_body(request, float(settings.body_timeout))  # kept by aiohttp for the transport
        endpoint = self._endpoint or await self._start()
        caller = caller_of_key(request[API_KEY], request.get(REQUEST_ID))
        from agentrt.mcp_server import CALLER_SCOPE_KEY

        return await endpoint.handle(request, {CALLER_SCOPE_KEY: caller})

    async def _start(self) -> McpHttpEndpoint:
        async with self._starting:
            if self._endpoint is not None:
                return self._endpoint
            if self._stopped or self._ctx.stopping.is_set():
                raise web.HTTPServiceUnavailable(reason="the server is stopping")
            # The SDK's import is slow enough to stall every other request for a moment: done in a thread.
            await asyncio.to_thread(importlib.import_module, "agentrt.mcp_server")
            from agentrt.mcp_server import McpHttpEndpoint, build_server

            settings = self._ctx.rt.config.server
            server = build_server(self._ctx.rt, _caller_from_scope)
            endpoint = McpHttpEndpoint(server, host=settings.host, max_body=int(settings.max_body))
            await endpoint.start()
            self._endpoint = endpoint
            return endpoint

    async def stop(self) -> None:
        """Stop the transport (if it ever started). Harmless twice."""
        self._stopped = True
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            await endpoint.stop()


def _caller_from_scope(ctx: Any) -> Caller:
    # Over HTTP each request carries its caller in the ASGI scope the bridge built.
    from agentrt.mcp_server import CALLER_SCOPE_KEY

    request = ctx.request
    if request is None:  # pragma: no cover - the HTTP transport always attaches its request
        raise RuntimeError("an MCP request over HTTP without its HTTP request")
    caller: Caller = request.scope[CALLER_SCOPE_KEY]
    return caller
