"""Server-sent events: a ``text/event-stream`` response written event by event.

Lifetime: ``await stream.open()`` sends the headers (after that the status is
200 for good: a failure can only be told as an event), ``send`` writes events,
``close`` ends the body. A client that hangs up makes ``send`` raise
:class:`ClientGone`, so a producer stops at once instead of writing into the
void.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, TypeVar

import orjson
from aiohttp import web

__all__ = ["KEEPALIVE_SECONDS", "ClientGone", "EventStream", "format_event", "relay"]

T = TypeVar("T")

KEEPALIVE_SECONDS: Final = 15.0
"""A comment goes out after this long without an event, so proxies keep an idle stream open."""


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


async def relay(
    stream: EventStream,
    next_item: Callable[[], Awaitable[T]],
    stopping: asyncio.Event,
    write: Callable[[T], Awaitable[None]],
    *,
    keepalive: float = KEEPALIVE_SECONDS,
) -> Literal["ended", "stopping"] | None:
    """Open ``stream``, then hand each item ``next_item()`` gives to ``write`` as it comes.

    A comment goes out after ``keepalive`` seconds without an item. Returns
    ``"ended"`` when ``next_item`` raises ``StopAsyncIteration``, ``"stopping"``
    when ``stopping`` is set (the server is shutting down; a pending
    ``next_item`` is cancelled), and None when the client hung up. The caller
    closes its source and the stream.
    """
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await stream.open()
        await stream.comment("subscribed")
        while True:
            following = asyncio.ensure_future(next_item())
            done, _ = await asyncio.wait({following, stop}, timeout=keepalive, return_when=asyncio.FIRST_COMPLETED)
            if following not in done:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
                if stop in done:
                    return "stopping"
                await stream.comment()
                continue
            try:
                item = following.result()
            except StopAsyncIteration:
                return "ended"
            await write(item)
    except ClientGone:
        return None
    finally:
        stop.cancel()
