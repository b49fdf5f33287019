"""Connections: a cap on how many are open, a deadline for the first request's headers, and
malformed HTTP answered in OpenAI's error shape.

aiohttp serves each connection with a ``RequestHandler``; this module's
subclass adds what a server facing bad clients needs:

- **Connection cap** (``server.max_connections``). A connection past the cap
  first tries to make room by closing the oldest connection that has no
  request in progress (an idle keep-alive, or one that never sent a request);
  when every connection is busy the new one is answered 503 and closed. So
  a thousand idle sockets cannot lock real clients out: they are the first to
  go.
- **Header timeout** (``server.header_timeout``): a new connection whose first
  request's headers have not arrived by then is closed. Between requests,
  aiohttp's keep-alive timeout (``server.idle_timeout``) does the same.
- **Malformed requests** (a bad request line, header, chunk or length) are
  answered 400 with OpenAI's JSON error body, logged at info level without a
  traceback: they are the client's fault, and the internet sends plenty.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from agentrt.server.errors import ErrorInfo, error_body
from agentrt.server.requests import client_request_id

if TYPE_CHECKING:
    from aiohttp.web_request import BaseRequest

    from agentrt.config import ServerSection

__all__ = ["GuardedRunner", "connection_limits"]

_log = structlog.get_logger("agentrt.server")


class _Limits:
    __slots__ = ("header_timeout", "max_connections")

    def __init__(self, max_connections: int, header_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout


# File descriptors kept free for everything but client connections: upstream connections, the
# store, log files. A cap above what the process may open would fail in accept() instead.
_RESERVED_FDS = 128


def connection_limits(section: ServerSection) -> _Limits:
    """The limits of ``section``; the cap lowered to what the process's open-file limit allows."""
    cap = int(section.max_connections)
    room = _open_files_room()
    if room is not None and cap > room:
        _log.warning(
            "server_max_connections_lowered",
            configured=cap,
            used=room,
            hint=f"the open-files limit (ulimit -n) leaves room for {room} connections: raise it to serve more",
        )
        cap = room
    return _Limits(cap, float(section.header_timeout))


def _open_files_room() -> int | None:
    """How many client connections the open-file limit leaves room for; None when there is no limit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, soft - _RESERVED_FDS)


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Retry-After: 1\r\nContent-Length: %d\r\n\r\n%s"
)


def _busy_answer() -> bytes:
    body = error_body(
        ErrorInfo(
            503,
            "the server has as many connections open as it accepts, all busy: retry in a moment",
            "server_error",
            "too_many_connections",
        )
    )
    return _BUSY % (len(body), body)


class _GuardedServer(web.Server):
    """aiohttp's Server, making :class:`_GuardedHandler` protocols and knowing their order."""

    def __init__(self, handler: Any, *, limits: _Limits, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.refused = 0
        self.evicted = 0

    def __call__(self) -> RequestHandler:
        return _GuardedHandler(self, loop=self._loop, **self._kwargs)

    def make_room(self) -> bool:
        """Close the oldest connection with no request in progress; False if every one is busy."""
        for handler in self._connections:  # insertion order: the oldest first
            if not handler._request_in_progress and not handler._messages:
                self.evicted += 1
                handler.force_close()
                self._connections.pop(handler, None)
                return True
        return False


class _GuardedHandler(RequestHandler):
    __slots__ = ("_header_deadline", "_refused")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._manager
        assert isinstance(server, _GuardedServer)
        self._refused = False
        self._header_deadline: asyncio.TimerHandle | None = None
        if len(server._connections) >= server.limits.max_connections and not server.make_room():
            server.refused += 1
            self._refused = True
            assert isinstance(transport, asyncio.Transport)
            transport.write(_busy_answer())
            transport.close()
            if server.refused == 1 or server.refused % 1000 == 0:
                _log.warning(
                    "http_connection_refused",
                    refused=server.refused,
                    max_connections=server.limits.max_connections,
                    hint="every connection was busy: raise server.max_connections, or add servers",
                )
            return
        super().connection_made(transport)
        self._header_deadline = self._loop.call_later(server.limits.header_timeout, self._headers_late)

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self._request_count == 0:
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        rid = client_request_id(None)
        if status >= 500:
            _log.error(
                "http_protocol_error", status=status, request_id=rid, error_type=type(exc).__name__, exc_info=exc
            )
            info = ErrorInfo(status, f"internal server error (request {rid})", "server_error", "internal_error")
        else:
            # A malformed request: the client's fault, so no traceback, and its text is not echoed.
            _log.info("http_malformed_request", status=status, request_id=rid, error_type=type(exc).__name__)
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Bad Request"
            info = ErrorInfo(
                status,
                f"malformed HTTP request ({phrase}): check the request line, headers and body framing",
                "invalid_request_error",
                "malformed_request",
            )
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had begun; the connection is closed instead")
        response = web.Response(
            status=status,
            body=error_body(info, rid),
            content_type="application/json",
            headers={"x-request-id": rid},
        )
        response.force_close()
        return response


class GuardedRunner(web.AppRunner):
    """An ``AppRunner`` whose connections are capped and timed (see the module's docstring)."""

    def __init__(self, app: web.Application, *, limits: _Limits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = limits

    @property
    def refused(self) -> int:
        server = self.server
        return server.refused if isinstance(server, _GuardedServer) else 0

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return _GuardedServer(
            plain.request_handler,
            limits=self._limits,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,
        )
