"""The SDK's transports, as our source opens them: stdio with its stderr kept, HTTP with our headers.

Both hand the SDK's ``Client`` a read stream wrapped so that its end (the
server process exited, the HTTP transport gave up) calls ``on_end``: the
supervisor learns at once that the connection is gone, even when no call is
in flight to notice. This is stream plumbing; the protocol stays the SDK's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import anyio
from mcp.client._transport import ReadStream, TransportStreams
from mcp.shared.message import SessionMessage

from agentrt.tools.mcp._spec import HttpServer, StdioServer
from agentrt.tools.mcp._stderr import StderrTail

__all__ = ["open_transport"]

# The SDK's own defaults for its HTTP client: 30 s to connect or write, 5 min to read (a server may hold an
# SSE stream open that long). A call's own timeout is applied per request by the session, not here.
_HTTP_TIMEOUT = 30.0
_HTTP_READ_TIMEOUT = 300.0


class _WatchedReadStream:
    """The transport's read stream, calling ``on_end`` once when it ends or is closed under its reader."""

    def __init__(self, inner: ReadStream[SessionMessage | Exception], on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        # The dispatcher restores the sender's context vars from this when the stream carries them.
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


@asynccontextmanager
async def open_transport(
    server: StdioServer | HttpServer, *, stderr: StderrTail | None, on_end: Callable[[], None]
) -> AsyncIterator[TransportStreams]:
    """The streams of one connection to ``server``; leaving the block closes it (and stops a stdio process)."""
    if isinstance(server, StdioServer):
        async with _stdio(server, stderr or StderrTail("mcp")) as (read, write):
            yield _WatchedReadStream(read, on_end), write
    else:
        async with _http(server) as (read, write):
            yield _WatchedReadStream(read, on_end), write


@asynccontextmanager
async def _stdio(server: StdioServer, stderr: StderrTail) -> AsyncIterator[TransportStreams]:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=server.command, args=list(server.args), env=dict(server.env) or None, cwd=server.cwd
    )
    errlog = stderr.open()
    try:
        async with stdio_client(params, errlog=errlog) as streams:
            # The process holds its own copy of the pipe now; ours must go, or the reader never sees its end.
            errlog.close()
            yield streams
    finally:
        errlog.close()


@asynccontextmanager
async def _http(server: HttpServer) -> AsyncIterator[TransportStreams]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    client = httpx2.AsyncClient(
        headers=dict(server.headers), timeout=httpx2.Timeout(_HTTP_TIMEOUT, read=_HTTP_READ_TIMEOUT)
    )
    async with client, streamable_http_client(server.url, http_client=client) as streams:
        yield streams
