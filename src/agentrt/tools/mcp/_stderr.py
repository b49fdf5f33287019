"""A stdio server's stderr: the last lines kept for errors and status, each line logged at debug.

The SDK hands the server's stderr a file; we give it the write end of a pipe
and read the other end in a daemon thread. A thread, not the event loop,
because a server that floods stderr must never stall the loop, and the
thread ends by itself at end of file (when the server and its children exit).
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable
from typing import TextIO

import structlog

__all__ = ["StderrTail"]

_log = structlog.get_logger("agentrt.tools.mcp")


class StderrTail:
    """The last ``keep`` lines the toolkit's server processes wrote to stderr, over all their restarts."""

    def __init__(self, toolkit: str, keep: int = 20, secrets: Iterable[str] = ()) -> None:
        self._toolkit = toolkit
        # A server may print its own token (the env it was given): never into our errors or logs.
        self._secrets = tuple(secret for secret in secrets if len(secret) >= 4)
        self._lines: deque[str] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def open(self) -> TextIO:
        """A new pipe for one server process: its write end, for the SDK to give the process as stderr.

        Close the returned file once the process has started (it holds its own
        copy), so the reader sees end of file when the process exits.
        """
        read_fd, write_fd = os.pipe()
        reader = threading.Thread(target=self._pump, args=(read_fd,), name=f"mcp-stderr-{self._toolkit}", daemon=True)
        reader.start()
        return open(write_fd, "w", encoding="utf-8")  # the caller closes it once the process runs

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def text(self) -> str:
        """The kept lines, for an error message: ``(nothing on stderr)`` when there are none."""
        lines = self.lines()
        return "\n".join(lines) if lines else "(nothing on stderr)"

    def _pump(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as stream:
            for raw in stream:
                line = raw.rstrip()
                if not line:
                    continue
                for secret in self._secrets:
                    line = line.replace(secret, "***")
                with self._lock:
                    self._lines.append(line)
                _log.debug("mcp server stderr", toolkit=self._toolkit, line=line)
