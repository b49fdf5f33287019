"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``), both ways.

Bedrock's ConverseStream answers with it. One message::

    total length (uint32 BE) | headers length (uint32 BE) | prelude CRC32 (of the 8 bytes before)
    headers                  | payload                    | message CRC32 (of everything before)

A header is a name (1-byte length, UTF-8), a type byte and a value: 0/1 true/false,
2 int8, 3 int16, 4 int32, 5 int64, 6 bytes and 7 string (2-byte length first),
8 timestamp (int64 milliseconds), 9 UUID (16 bytes). Integers are big-endian and
signed. The CRC is the common CRC-32 (zlib's).

:class:`EventStreamParser` is fed the body in whatever pieces the network
delivers and returns the messages completed; a bad CRC or impossible lengths
raise :class:`EventStreamError` at once (the stream cannot be resynchronised).
:func:`encode_message` is what the fake upstream and the tests frame with.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["EventStreamError", "EventStreamParser", "HeaderValue", "Message", "encode_message"]

HeaderValue = bool | int | bytes | str | datetime | uuid.UUID

_PRELUDE = struct.Struct(">III")
_PRELUDE_LENGTH = 12
_MINIMUM_LENGTH = _PRELUDE_LENGTH + 4
_MAX_HEADERS = 128 * 1024  # the framing's own limits (as botocore enforces them)
_MAX_PAYLOAD = 24 * 1024 * 1024
_MAX_MESSAGE = _MINIMUM_LENGTH + _MAX_HEADERS + _MAX_PAYLOAD
_INTS = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i"), 5: struct.Struct(">q")}


class EventStreamError(ValueError):
    """The bytes are not a valid event stream (a CRC mismatch, impossible lengths, an unknown header type)."""


@dataclass(slots=True, frozen=True)
class Message:
    """One decoded message: its headers and payload."""

    headers: Mapping[str, HeaderValue]
    payload: bytes


class EventStreamParser:
    """Incremental decoder: :meth:`feed` any pieces, get the messages they complete."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole message (not 0 at the end: the stream was cut)."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[Message]:
        self._buffer += chunk
        messages: list[Message] = []
        while len(self._buffer) >= _PRELUDE_LENGTH:
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(self._buffer)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("event stream prelude CRC mismatch: the bytes are corrupt")
            if headers_length > _MAX_HEADERS or headers_length > total - _MINIMUM_LENGTH:
                raise EventStreamError(f"event stream headers length {headers_length} is out of bounds")
            if total < _MINIMUM_LENGTH or total - _MINIMUM_LENGTH - headers_length > _MAX_PAYLOAD:
                raise EventStreamError(f"event stream message length {total} is out of bounds")
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from(">I", frame, total - 4)
            if zlib.crc32(frame[: total - 4]) != message_crc:
                raise EventStreamError("event stream message CRC mismatch: the bytes are corrupt")
            headers_end = _PRELUDE_LENGTH + headers_length
            messages.append(Message(_decode_headers(frame[_PRELUDE_LENGTH:headers_end]), frame[headers_end:-4]))
        return messages


def _decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    at = 0
    try:
        while at < len(data):
            name_length = data[at]
            name = data[at + 1 : at + 1 + name_length].decode("utf-8")
            at += 1 + name_length
            kind = data[at]
            at += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _INTS:
                reader = _INTS[kind]
                (value,) = reader.unpack_from(data, at)
                at += reader.size
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, at)
                raw = data[at + 2 : at + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("event stream header value is cut short")
                value = raw.decode("utf-8") if kind == 7 else raw
                at += 2 + length
            elif kind == 8:
                (millis,) = struct.unpack_from(">q", data, at)
                value = datetime.fromtimestamp(millis / 1000, UTC)
                at += 8
            elif kind == 9:
                value = uuid.UUID(bytes=data[at : at + 16])
                at += 16
            else:
                raise EventStreamError(f"event stream header {name!r} has unknown type {kind}")
            if name in headers:
                raise EventStreamError(f"event stream header {name!r} appears twice")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, EventStreamError):
            raise
        raise EventStreamError(f"event stream headers are malformed ({err})") from None
    return headers


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    out = bytes([len(raw_name)]) + raw_name
    if isinstance(value, bool):
        return out + bytes([0 if value else 1])
    if isinstance(value, int):
        return out + b"\x05" + struct.pack(">q", value)  # int64 holds every int the framing can carry
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return out + b"\x07" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, bytes):
        return out + b"\x06" + struct.pack(">H", len(value)) + value
    if isinstance(value, datetime):
        return out + b"\x08" + struct.pack(">q", round(value.timestamp() * 1000))
    return out + b"\x09" + value.bytes


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One framed message (ints are sent as int64)."""
    encoded = b"".join(_encode_header(name, value) for name, value in headers.items())
    total = _MINIMUM_LENGTH + len(encoded) + len(payload)
    prelude = struct.pack(">II", total, len(encoded))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))
