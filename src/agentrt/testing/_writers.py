"""How the fake writes answers: JSON bodies, streams (SSE, NDJSON, AWS event streams), recorded bytes, and
the faults that live below any format (a cut stream, a closed connection)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from agentrt.testing._recorded import Recorded

__all__ = ["close_connection", "json_response", "open_stream", "write_cut", "write_recorded", "write_stream"]


async def write_stream(
    request: web.Request, frames: list[bytes], *, delay: float = 0.0, content_type: str = "text/event-stream"
) -> web.StreamResponse:
    response = await open_stream(request, content_type)
    if delay:
        await asyncio.sleep(delay)
    for frame in frames:
        await response.write(frame)
    await response.write_eof()
    return response


async def write_recorded(request: web.Request, recorded: Recorded) -> web.StreamResponse:
    """The recorded bytes, unchanged, each piece its own write (yielding between, so they leave apart)."""
    response = web.StreamResponse(status=recorded.status, headers={"Content-Type": recorded.content_type or ""})
    response.content_length = len(recorded.body)
    await response.prepare(request)
    for piece in recorded.pieces():
        await response.write(piece)
        await asyncio.sleep(0)
    await response.write_eof()
    return response


async def write_cut(
    request: web.Request,
    frames: list[bytes] | None,
    body: bytes | None,
    events: int,
    content_type: str = "text/event-stream",
) -> web.StreamResponse:
    """Send part of the answer (``events`` stream frames, or half the body), then close the connection,
    so the client sees it end unfinished."""
    if frames is not None:
        response = await open_stream(request, content_type)
        for frame in frames[: min(events, len(frames) - 1)]:
            await response.write(frame)
    else:
        body = body or b""
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
    close_connection(request)
    return response


async def open_stream(request: web.Request, content_type: str = "text/event-stream") -> web.StreamResponse:
    if content_type == "text/event-stream":
        content_type = "text/event-stream; charset=utf-8"
    response = web.StreamResponse(status=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
    await response.prepare(request)
    return response


def close_connection(request: web.Request) -> None:
    # close(), not abort(): what was written so far is flushed, then the socket closes mid-response.
    transport = request.transport
    if transport is not None:
        transport.close()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)
