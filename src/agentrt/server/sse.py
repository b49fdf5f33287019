"""Server-sent events: a ``text/event-stream`` response written event by event.

Lifetime: ``await stream.open()`` sends the headers (after that the status is
200 for good: a failure can only be told as an event), ``send`` writes events,
``close`` ends the body. A client that hangs up makes ``send`` raise
:class:`ClientGone`, so a producer stops at once instead of writing into the
void.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
from aiohttp import web

__all__ = ["ClientGone", "EventStream", "format_event"]


class ClientGone(Exception):
    """The client closed the connection while events were being sent."""


def format_event(data: bytes, *, event: str | None = None, id: str | None = None) -> bytes:
    """One event in the wire format (``data`` must not contain a newline: JSON from orjson never does)."""
    head = b""
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    if id is not None:
        head += b"id: " + id.encode() + b"\n"
    return head + b"data: " + data + b"\n\n"


class EventStream:
    """One SSE response to ``request``."""

    __slots__ = ("_request", "response")

    def __init__(self, request: web.Request, *, headers: dict[str, str] | None = None) -> None:
        self._request = request
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx and friends must pass events on at once
                **(headers or {}),
            }
        )

    @property
    def opened(self) -> bool:
        return self.response.prepared

    async def open(self) -> None:
        """Send the status and headers."""
        try:
            await self.response.prepare(self._request)
        except ConnectionError as err:
            raise ClientGone() from err

    async def write(self, raw: bytes) -> None:
        """Write bytes already in the wire format (one or several events)."""
        try:
            await self.response.write(raw)
        except ConnectionError as err:  # aiohttp's ClientConnectionResetError is one
            raise ClientGone() from err

    async def send(self, data: Any, *, event: str | None = None, id: str | None = None) -> None:
        """Write one event whose data is ``data`` as JSON."""
        await self.write(format_event(orjson.dumps(data), event=event, id=id))

    async def comment(self, text: str = "keep-alive") -> None:
        """A comment line: keeps proxies from closing an idle stream; clients ignore it."""
        await self.write(b": " + text.encode() + b"\n\n")

    async def close(self) -> web.StreamResponse:
        """End the body (harmless when the client is already gone, or when it never opened)."""
        if self.response.prepared:
            with contextlib.suppress(ConnectionError):
                await self.response.write_eof()
        return self.response
