"""Sinks: where a processed event goes. Each sink renders the event itself, once.

The pipeline hands every sink the same (already redacted) event dict; a sink
must not mutate it, because the next sink renders the same dict.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from typing import Any, Final, Protocol, TextIO

import orjson

from agentrt.logging._logfmt import LogfmtRenderer

__all__ = ["ConsoleSink", "Sink", "render_json"]

_JSON_OPTIONS: Final = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


class Sink(Protocol):
    """What the router needs from a sink."""

    def emit(self, event_dict: dict[str, Any]) -> None:
        """Render and write (or enqueue) one event. Must not raise, must not mutate ``event_dict``."""

    def flush(self) -> None:
        """Block until everything emitted so far has been written."""

    def close(self) -> None:
        """Flush and release resources; idempotent."""


def render_json(event_dict: dict[str, Any]) -> bytes:
    """One JSON object and a newline. Never raises: what orjson refuses falls back to the stdlib encoder."""
    try:
        return orjson.dumps(event_dict, default=str, option=_JSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        # orjson refuses integers beyond 64 bits and a few exotic keys; the
        # stdlib encoder is slower but takes them.
        try:
            return (json.dumps(event_dict, default=str, ensure_ascii=False) + "\n").encode()
        except (TypeError, ValueError) as exc:
            fallback = {
                "event": str(event_dict.get("event")),
                "level": str(event_dict.get("level")),
                "render_error": f"{type(exc).__name__}: {exc}",
            }
            return orjson.dumps(fallback, option=_JSON_OPTIONS)


class ConsoleSink:
    """Writes one rendered line per event to stderr or stdout, synchronously.

    The stream is looked up on every write (``sys.stderr`` at that moment), so
    pytest's capture and a CLI that swaps streams both see the lines.
    Console writes stay on the calling thread: a terminal or a pipe read by a
    supervisor is fast, and interleaving with ``print`` stays in order.
    """

    def __init__(self, fmt: str, stream: str) -> None:
        if stream not in ("stderr", "stdout"):
            raise ValueError(f"logging console.stream: unknown stream {stream!r}, use stderr or stdout")
        self.format = fmt
        self.stream_name = stream
        self._render: Callable[[dict[str, Any]], str] = self._make_renderer(fmt)

    def _stream(self) -> TextIO:
        stream: TextIO | None = getattr(sys, self.stream_name)
        return stream if stream is not None else sys.__stderr__  # type: ignore[return-value]

    def _make_renderer(self, fmt: str) -> Callable[[dict[str, Any]], str]:
        if fmt == "logfmt":
            logfmt = LogfmtRenderer()
            return lambda ed: logfmt(None, "", ed) + "\n"
        if fmt == "json":
            return lambda ed: render_json(ed).decode()
        if fmt == "pretty":
            # structlog.dev is only needed in pretty mode.
            from structlog.dev import ConsoleRenderer

            stream = self._stream()
            colors = bool(getattr(stream, "isatty", lambda: False)())
            pretty = ConsoleRenderer(colors=colors, timestamp_key="ts", sort_keys=False)
            # ConsoleRenderer pops keys: give it a copy, the file sink renders the same dict.
            return lambda ed: pretty(None, "", dict(ed)) + "\n"
        raise ValueError(f"logging console.format: unknown format {fmt!r}, use logfmt, pretty, json or off")

    def emit(self, event_dict: dict[str, Any]) -> None:
        """Render ``event_dict`` and write it, flushing so that lines appear at once."""
        line = self._render(event_dict)
        stream = self._stream()
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):
            # A closed or broken console (EPIPE, pytest's closed capture) must
            # not turn a log call into an exception in application code.
            pass

    def flush(self) -> None:
        """Flush the stream."""
        with contextlib.suppress(OSError, ValueError):
            self._stream().flush()

    def close(self) -> None:
        """Flush; the process's stream itself stays open."""
        self.flush()
