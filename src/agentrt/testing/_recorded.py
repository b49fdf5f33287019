"""Recorded replies: bytes captured from the real APIs, replayed unchanged in odd-sized writes.

A :class:`Recorded` script item answers one request with exactly the bytes it
holds (an SSE stream or a JSON body), written in pieces whose sizes cycle
through ``chunk_sizes``, so that a client's parser meets events split at
awkward places, as on a real network. ``Recorded.from_httprr`` reads the
response of one exchange of an httprr trace (the format google/adk-go records
live Gemini traffic in).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["HttprrExchange", "Recorded", "read_httprr"]

_DEFAULT_CHUNK_SIZES = (7, 1, 13, 64, 3, 29)


@dataclass
class Recorded:
    """One recorded answer, replayed byte for byte.

    ``source`` is the bytes themselves or a path to read them from.
    ``content_type`` defaults to ``application/json`` for a ``.json`` file or a
    body starting with ``{`` or ``[``, else ``text/event-stream``.
    ``chunk_sizes`` are the sizes of the successive writes, cycled.
    """

    source: bytes | str | os.PathLike[str]
    content_type: str | None = None
    chunk_sizes: Sequence[int] = _DEFAULT_CHUNK_SIZES
    status: int = 200
    body: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.source, bytes):
            self.body = self.source
        else:
            path = Path(self.source)
            try:
                self.body = path.read_bytes()
            except OSError as exc:
                raise ValueError(f"Recorded({str(path)!r}): cannot read the recording: {exc.strerror}") from None
        if not self.chunk_sizes or any(size < 1 for size in self.chunk_sizes):
            raise ValueError(f"Recorded(chunk_sizes={list(self.chunk_sizes)}): use one or more sizes of 1 or more")
        if not 100 <= self.status <= 599:
            raise ValueError(f"Recorded(status={self.status}): use an HTTP status, 100 to 599")
        if self.content_type is None:
            looks_json = self.body.lstrip()[:1] in (b"{", b"[") or str(self.source).endswith(".json")
            self.content_type = "application/json" if looks_json else "text/event-stream"

    @classmethod
    def from_httprr(
        cls, path: str | os.PathLike[str], exchange: int = 0, *, chunk_sizes: Sequence[int] = _DEFAULT_CHUNK_SIZES
    ) -> Recorded:
        """The response of exchange number ``exchange`` (from 0) of an httprr trace, with its status and type."""
        exchanges = read_httprr(path)
        if not 0 <= exchange < len(exchanges):
            raise ValueError(f"Recorded.from_httprr: {path} holds {len(exchanges)} exchanges, not {exchange + 1}")
        recorded = exchanges[exchange]
        return cls(
            recorded.response_body,
            content_type=recorded.response_headers.get("content-type"),
            chunk_sizes=chunk_sizes,
            status=recorded.status,
        )

    def pieces(self) -> list[bytes]:
        """The body cut into the successive writes."""
        pieces, start, turn = [], 0, 0
        while start < len(self.body):
            size = self.chunk_sizes[turn % len(self.chunk_sizes)]
            pieces.append(self.body[start : start + size])
            start, turn = start + size, turn + 1
        return pieces


@dataclass
class HttprrExchange:
    """One request and its response, as an httprr trace keeps them."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


def read_httprr(path: str | os.PathLike[str]) -> list[HttprrExchange]:
    """Every exchange of an httprr trace: ``httprr trace v1``, then per exchange a line
    ``<request bytes> <response bytes>`` followed by the raw HTTP request and response."""
    data = Path(path).read_bytes()
    header = b"httprr trace v1\n"
    if not data.startswith(header):
        raise ValueError(f"{path}: not an httprr trace (it must start with 'httprr trace v1')")
    exchanges, offset = [], len(header)
    while offset < len(data):
        line_end = data.index(b"\n", offset)
        request_size, response_size = (int(n) for n in data[offset:line_end].split())
        request = data[line_end + 1 : line_end + 1 + request_size]
        response = data[line_end + 1 + request_size : line_end + 1 + request_size + response_size]
        offset = line_end + 1 + request_size + response_size
        start_line, request_headers, request_body = _split_message(request)
        method, url, _ = start_line.split(" ", 2)
        status_line, response_headers, response_body = _split_message(response)
        exchanges.append(
            HttprrExchange(
                method=method,
                url=url,
                request_headers=request_headers,
                request_body=request_body,
                status=int(status_line.split(" ", 2)[1]),
                response_headers=response_headers,
                response_body=response_body,
            )
        )
    return exchanges


def _split_message(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return lines[0], headers, body


def _dechunk(body: bytes) -> bytes:
    out, offset = bytearray(), 0
    while offset < len(body):
        line_end = body.index(b"\r\n", offset)
        size = int(body[offset:line_end].split(b";")[0], 16)
        if size == 0:
            break
        out += body[line_end + 2 : line_end + 2 + size]
        offset = line_end + 2 + size + 2
    return bytes(out)
