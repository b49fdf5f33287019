"""What the middleware takes from every request before its handler runs: the request id and the body.

Request ids: a client's ``x-request-id`` is used when it is printable ASCII of
at most 128 characters (it joins the client's own logs to ours); anything else
is replaced by a new id. The id is returned as ``x-request-id`` on every
answer, put in error bodies, bound into log lines, and set as the
``agentrt.calls.request_id`` context variable, so the ledger row, the audit row
and the span of the call carry it.

Bodies are read within ``server.body_timeout``: a client that announces a
body and then sends it slowly, or not at all, gets a 408 instead of holding a
connection and a task for ever. A body whose ``Content-Encoding`` does not
match its bytes is a 400; a client that hangs up during its upload is no
error of the server's, and is logged as such.
"""

from __future__ import annotations

import asyncio
import os
from itertools import count

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError
from aiohttp.web_protocol import RequestPayloadError

from agentrt.server.errors import ErrorInfo, HttpError

__all__ = ["ABORTED", "MAX_REQUEST_ID", "REQUEST_ID", "ClientAborted", "client_request_id", "read_body"]

REQUEST_ID = web.RequestKey("agentrt_request_id", str)
"""The request's id, as the middleware chose it."""

MAX_REQUEST_ID = 128

_PREFIX = "req-" + os.urandom(6).hex()
_counter = count(1)

ABORTED = ErrorInfo(
    400, "the client closed the connection before sending its whole body", "invalid_request_error", "client_aborted"
)
"""What an aborted upload is answered with (no one reads it: the connection is gone)."""


class ClientAborted(Exception):
    """The client hung up while sending its request body."""


def client_request_id(header: str | None) -> str:
    """The client's id when usable, else a new one (``req-<random>-<counter>``, unique across processes)."""
    if header and len(header) <= MAX_REQUEST_ID and header.isascii() and header.isprintable():
        return header
    return f"{_PREFIX}{next(_counter):x}"


async def read_body(request: web.Request, timeout: float) -> bytes:
    """The whole body (aiohttp keeps it: the handler's ``request.read()`` then returns it at once)."""
    try:
        if request.content.is_eof():  # the usual case: it came with the headers; no timer needed (~13 us)
            return await request.read()
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        raise HttpError(
            408,
            f"the request body did not arrive within {timeout:g} seconds: send the body with the headers "
            "(the server's limit is server.body_timeout)",
            code="body_timeout",
            close=True,
        ) from None
    except ConnectionError:
        raise ClientAborted() from None
    except RequestPayloadError as err:
        if isinstance(err.__cause__, ContentEncodingError):
            encoding = request.headers.get("Content-Encoding", "")
            raise HttpError(
                400,
                f"the body is not valid {encoding}, as its Content-Encoding header says: send the body encoded "
                "that way, or leave the header out",
                code="invalid_content_encoding",
                close=True,
            ) from None
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ClientAborted() from None
        raise HttpError(
            400, "the request body could not be read: check Content-Length", code="invalid_body", close=True
        ) from None
