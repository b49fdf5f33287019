"""An incremental parser of Server-Sent Events (the WHATWG ``text/event-stream`` format).

It is fed the body in whatever chunks the network delivers and returns the
complete events in each, so a stream is parsed as it arrives, with no
per-line ``await`` and no limit on the length of a line (aiohttp's own
``readline`` refuses lines over its buffer size, and one Gemini chunk carrying
a large function call can exceed it).

What it handles: ``event:`` and ``data:`` fields, several ``data:`` lines in
one event (joined with ``\\n``), comment lines (``: ping``), a field without a
colon, an optional single space after the colon, and all three line endings
(LF, CRLF, CR), also when a CRLF is split between two chunks. An event is only
dispatched at the blank line that ends it: an event cut off by the end of the
body is discarded, as the specification says, so a truncated stream shows up
as a missing terminator rather than as half a JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser"]

_LINE_ENDINGS = (b"\n", b"\r")


@dataclass(slots=True, frozen=True)
class SSEEvent:
    """One dispatched event. ``data`` stays bytes: orjson parses bytes directly, no decode needed."""

    event: str
    data: bytes


class SSEParser:
    """Feed it bytes with :meth:`feed`; it returns the events completed by them."""

    __slots__ = ("_data", "_event", "_pending", "_skip_lf")

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # the start of a line whose end has not arrived yet
        self._skip_lf = False  # the last chunk ended in CR: a LF starting the next one belongs to it
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse ``chunk`` (any size, any split) and return the events it completed."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]
        if not chunk:
            return []
        if b"\n" not in chunk and b"\r" not in chunk:
            # No line ends here: keep the piece without copying the whole line again.
            self._pending.append(chunk)
            return []
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending.clear()
        lines = chunk.splitlines(keepends=True)
        if not lines[-1].endswith(_LINE_ENDINGS):
            self._pending.append(lines.pop())
        elif lines[-1].endswith(b"\r"):
            self._skip_lf = True
        events: list[SSEEvent] = []
        for line in lines:
            event = self._line(line.rstrip(b"\r\n"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: bytes) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == 0x3A:  # ":" starts a comment (servers send them as keep-alives)
            return None
        field, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        # "id" and "retry" matter to browsers reconnecting, not to one HTTP response: ignored.
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SSEEvent(self._event or "message", data)
        self._event = ""
        self._data = []
        return event
