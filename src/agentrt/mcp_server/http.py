"""``/mcp`` on our aiohttp server: the SDK's streamable HTTP transport, bridged from aiohttp to ASGI.

The SDK's transport is an ASGI app (``StreamableHTTPSessionManager``). An
aiohttp request is handed to it as an ASGI ``scope``, ``receive`` and
``send``: ``receive`` gives the body (already read, within
``server.body_timeout``) and then waits for the client to hang up
(``http.disconnect``); ``send`` streams the answer through a
``web.StreamResponse``, so an SSE answer reaches the client event by event.
That bridge is HTTP plumbing only: the protocol is the SDK's.

Stateless mode. Each POST is self-contained: the SDK makes a transport for
it and serves it, with no ``Mcp-Session-Id`` to remember. We chose it
because every request is authenticated on its own anyway (the key and its
tenant are read per request), because it works unchanged behind
``agentrt serve --workers N`` or a load balancer (a session kept in one
process would be unknown to the next one), and because a restart loses
nothing a client holds. What it costs: the server cannot push to the client
outside an answer (no GET stream), so ``notifications/tools/list_changed``
is not sent over HTTP; clients see a changed tool list the next time they
list (over stdio, one long session, it is sent).

The session manager's task group must run while the app serves: :meth:`start`
runs it in a task of its own (an anyio task group is entered and left in one
task), :meth:`stop` ends it, cancelling whatever is still running in it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import structlog
from aiohttp import web
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["CALLER_SCOPE_KEY", "McpHttpEndpoint"]

_log = structlog.get_logger("agentrt.mcp_server")

CALLER_SCOPE_KEY = "agentrt.caller"
"""Where the ASGI scope carries the request's :class:`~agentrt.mcp_server.Caller` to the handlers."""

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# How often a request waiting for its client checks whether the client hung up: aiohttp does not
# cancel a handler when its client goes, and says so only through the transport.
_DISCONNECT_POLL = 0.5


class McpHttpEndpoint:
    """The streamable HTTP transport of one MCP server, served by aiohttp handlers.

    Lifetime: ``await start()`` (with the app), :meth:`handle` per request,
    ``await stop()`` (harmless twice). ``host`` is the address the server
    listens on: on a loopback address the SDK's DNS-rebinding protection
    (Host and Origin checks) is on, as the SDK does for its own apps.
    """

    def __init__(self, server: Server[Any], *, host: str, max_body: int) -> None:
        security = None
        if host in _LOOPBACK:
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=["127.0.0.1", "localhost", "[::1]", "127.0.0.1:*", "localhost:*", "[::1]:*"],
                allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
            )
        self._manager = StreamableHTTPSessionManager(
            app=server, stateless=True, security_settings=security, max_request_body_size=max_body
        )
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Run the session manager (its task group) until :meth:`stop`."""
        if self._task is not None:
            raise RuntimeError("the MCP endpoint starts once")
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def run() -> None:
            async with self._manager.run():
                ready.set_result(None)
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name="agentrt-mcp-sessions")
        await asyncio.wait({self._task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():  # it ended before it was ready: say why
            await self._task

    async def stop(self) -> None:
        """End the session manager; requests still in it are cancelled (the server drained them first)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def handle(self, request: web.Request, extra: Mapping[str, Any]) -> web.StreamResponse:
        """Serve one request; ``extra`` goes into the ASGI scope (the caller, under :data:`CALLER_SCOPE_KEY`)."""
        if not self.running:
            raise web.HTTPServiceUnavailable(reason="the MCP endpoint is not running")
        bridge = _Bridge(request)
        await self._manager.handle_request(bridge.scope(await request.read(), extra), bridge.receive, bridge.send)
        return await bridge.finish()


class _Bridge:
    """One aiohttp request as ASGI's ``receive`` and ``send``."""

    __slots__ = ("_body", "_gone", "_request", "_response")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._response: web.StreamResponse | None = None
        self._body: bytes | None = None
        self._gone = False

    def scope(self, body: bytes, extra: Mapping[str, Any]) -> dict[str, Any]:
        request = self._request
        self._body = body
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        sock = transport.get_extra_info("sockname") if transport is not None else None
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": f"{request.version.major}.{request.version.minor}",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.rel_url.raw_path.encode("latin-1"),
            "query_string": request.rel_url.raw_query_string.encode("latin-1"),
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.raw_headers],
            "client": tuple(peer[:2]) if isinstance(peer, tuple) else None,
            "server": tuple(sock[:2]) if isinstance(sock, tuple) else None,
            "state": {},
            **extra,
        }

    async def receive(self) -> dict[str, Any]:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        # The body was all there was: what is left to tell is the client going away.
        while not self._client_gone():  # noqa: ASYNC110 - aiohttp sets no event we could wait on
            await asyncio.sleep(_DISCONNECT_POLL)
        return {"type": "http.disconnect"}

    def _client_gone(self) -> bool:
        if self._gone:
            return True
        transport = self._request.transport
        return transport is None or transport.is_closing()

    async def send(self, message: Mapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            started = web.StreamResponse(status=message["status"])
            for name, value in message.get("headers", ()):
                started.headers.add(name.decode("latin-1"), value.decode("latin-1"))
            self._response = started
            return
        if kind != "http.response.body" or self._gone:
            return
        response = self._response
        if response is None:
            raise RuntimeError("the ASGI app sent a body before its response start")
        try:
            if not response.prepared:
                await response.prepare(self._request)
            body = message.get("body", b"")
            if body:
                await response.write(body)
            if not message.get("more_body", False):
                await response.write_eof()
        except ConnectionError:  # the client hung up: the app learns it from receive()
            self._gone = True

    async def finish(self) -> web.StreamResponse:
        response = self._response
        if response is None:
            _log.error("mcp_no_response", reason="the MCP transport ended without answering")
            raise web.HTTPInternalServerError(reason="the MCP transport did not answer")
        if not response.prepared and not self._gone:
            with contextlib.suppress(ConnectionError):
                await response.prepare(self._request)
                await response.write_eof()
        return response
