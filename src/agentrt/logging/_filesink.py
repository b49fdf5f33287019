"""The JSON-lines file sink: rendered on the caller, written by a thread, rotated by size.

The caller (often the event loop) only renders the line with orjson and puts
the bytes on an unbounded ``queue.SimpleQueue`` (a C-level append); one writer
thread drains whatever has accumulated, writes it in one ``write`` and
rotates between lines. The queue is unbounded on purpose: the two promises are
"never block the caller" and "never lose a line", and a bound would break one
of them when the disk is slow.

Lines are never lost:

- ``flush()`` puts a marker in the queue and waits until the writer passes it;
- ``close()`` stops the writer after what is queued, then writes any line that
  raced in behind the stop marker itself; an ``emit`` that lands after
  ``close`` writes synchronously (so a logger that still held this sink across
  a reconfigure loses nothing);
- an ``atexit`` hook closes every sink the user forgot to close;
- rotation happens between two whole lines, inside the writer.

Rotation (``max_bytes``, ``backups``): when the next line would make the file
exceed ``max_bytes``, ``path.{backups-1}`` ... ``path.1`` shift up by one (the
oldest is dropped), ``path`` becomes ``path.1`` and a new ``path`` starts;
``backups=0`` truncates the file and continues. A single line longer than
``max_bytes`` gets a file of its own. ``max_bytes <= 0`` disables rotation.
Only this sink may write the file: two processes rotating one file would lose
lines.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from agentrt.logging._sinks import render_json

__all__ = ["RotatingFileSink"]

_STOP: Final = object()
# How long the writer lets lines accumulate after the first of a burst: one write (and one
# GIL hand-over) per burst instead of per line. flush() waits at most this much longer.
_LINGER_SECONDS: Final = 0.005
_MAX_BATCH: Final = 16_384  # lines per write: bounds the batch's memory (a few MB)

_live_sinks: set[RotatingFileSink] = set()
_live_lock = threading.Lock()


class RotatingFileSink:
    """A size-rotated JSON-lines file written by a background thread.

    Opening creates missing parent directories and raises ``OSError`` at once
    when the file cannot be opened, so a bad path fails at configure time
    rather than silently in the writer.

    Attributes ``lines_written``, ``rotations`` and ``write_errors`` count what
    the writer did; ``pending`` is the queue length.
    """

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        if backups < 0:
            raise ValueError(f"logging file.rotate.backups must be >= 0, got {backups}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A raw descriptor in append mode: one write(2) per batch. Each system
        # call releases the GIL, and getting it back can cost the writer a whole
        # switch interval (5 ms) while the application's threads are busy, so
        # the writer makes as few of them as it can.
        self._fd: int | None = _open_append(self.path)
        self._size = os.fstat(self._fd).st_size
        # How many of path.1, path.2, ... exist: rotation renames only those
        # instead of probing every index up to ``backups``.
        self._backups_present = _count_backups(self.path)
        # One tuple, so a reconfigure changes both values atomically.
        self._rotation = (max_bytes, backups)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._writer_gone = False
        self._drain_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._done = threading.Event()
        # Held by whoever writes to the file: the writer thread, or a caller
        # writing synchronously after close. Holding it pauses the writer.
        self._io_lock = threading.Lock()
        self._last_error_report = 0.0
        self.lines_written = 0
        self.rotations = 0
        self.write_errors = 0
        self._thread = threading.Thread(target=self._run, name=f"agentrt-log-writer:{self.path.name}")
        # Daemon, so a forgotten sink cannot hang interpreter exit (non-daemon
        # threads are joined before atexit hooks run); the atexit hook below
        # flushes it instead.
        self._thread.daemon = True
        self._thread.start()
        with _live_lock:
            _live_sinks.add(self)

    # --- the caller's side ---------------------------------------------------

    def emit(self, event_dict: dict[str, Any]) -> None:
        """Render ``event_dict`` as one JSON line and queue it. Does not wait for the disk."""
        self.emit_line(render_json(event_dict))

    def emit_line(self, line: bytes) -> None:
        """Queue one already rendered line (ending in ``\\n``)."""
        self._queue.put(line)
        if self._writer_gone:
            # close() has stopped the writer and may already have drained the
            # queue: write this line (and any other that raced in) ourselves.
            # If the flag was still False here, close() drains after setting
            # it, and finds this line in the queue.
            self._drain_synchronously()

    @property
    def pending(self) -> int:
        """Lines (and markers) queued but not yet taken by the writer."""
        return self._queue.qsize()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has started."""
        return self._closed

    def set_rotation(self, *, max_bytes: int, backups: int) -> None:
        """Change the rotation limits; the writer applies them from its next batch."""
        if backups < 0:
            raise ValueError(f"logging file.rotate.backups must be >= 0, got {backups}")
        self._rotation = (max_bytes, backups)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Keep the writer off the file while the block runs (to copy or inspect it consistently).

        Logging calls still return at once; their lines wait in the queue and
        are written when the block ends. Do not call :meth:`flush` or
        :meth:`close` inside the block: they would wait for the paused writer.
        """
        with self._io_lock:
            yield

    def flush(self) -> None:
        """Block until every line emitted before this call is written to the file (OS buffers)."""
        if self._closed:
            self._done.wait()
            return
        marker = threading.Event()
        self._queue.put(marker)
        # The writer sets the marker after writing everything queued before
        # it; the liveness check keeps a dead writer from hanging the caller.
        while not marker.wait(0.2):
            if not self._thread.is_alive():
                self._writer_gone = True
                self._drain_synchronously()
                return

    def close(self) -> None:
        """Write everything queued, stop the writer, close the file. Idempotent and thread-safe."""
        with self._close_lock:
            if self._closed:
                already = True
            else:
                already = False
                self._closed = True
                self._queue.put(_STOP)
        if already:
            self._done.wait()
            return
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._writer_gone = True
        self._drain_synchronously()
        with _live_lock:
            _live_sinks.discard(self)
        self._done.set()

    # --- the writer's side ---------------------------------------------------

    def _run(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        linger = time.sleep
        while True:
            item = get()
            if type(item) is bytes:
                linger(_LINGER_SECONDS)
            batch: list[bytes] = []
            while True:
                if type(item) is bytes:
                    batch.append(item)
                    if len(batch) >= _MAX_BATCH:
                        self._write(batch)
                        batch = []
                elif item is _STOP:
                    self._write(batch)
                    self._close_file()
                    return
                else:  # a flush marker: everything before it must be written first
                    self._write(batch)
                    batch = []
                    item.set()
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
            self._write(batch)

    def _drain_synchronously(self) -> None:
        """Write whatever is in the queue from the calling thread, once the writer is gone."""
        with self._drain_lock:
            batch: list[bytes] = []
            markers: list[threading.Event] = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if type(item) is bytes:
                    batch.append(item)
                elif item is not _STOP:
                    markers.append(item)
            if batch:
                self._write(batch)
                self._close_file()
            for marker in markers:
                marker.set()

    def _write(self, lines: list[bytes]) -> None:
        if not lines:
            return
        with self._io_lock:
            try:
                if self._fd is None:
                    self._fd = _open_append(self.path)
                    self._size = os.fstat(self._fd).st_size
                max_bytes, _ = self._rotation
                data = b"".join(lines)
                if max_bytes <= 0 or self._size + len(data) <= max_bytes:
                    _write_all(self._fd, data)
                    self._size += len(data)
                else:
                    self._write_rotating(lines, max_bytes)
                self.lines_written += len(lines)
            except OSError as exc:
                self.write_errors += 1
                self._report(f"cannot write to {self.path}: {exc.strerror or exc}; {len(lines)} lines lost")
            except Exception as exc:  # a bug here must not kill the writer thread
                self.write_errors += 1
                self._report(f"writer error on {self.path}: {type(exc).__name__}: {exc}")

    def _write_rotating(self, lines: list[bytes], max_bytes: int) -> None:
        chunk: list[bytes] = []
        chunk_size = 0
        for line in lines:
            size = len(line)
            used = self._size + chunk_size
            if used and used + size > max_bytes:
                if chunk:
                    _write_all(self._fd_or_open(), b"".join(chunk))
                self._size += chunk_size
                chunk, chunk_size = [], 0
                self._rotate()
            chunk.append(line)
            chunk_size += size
        _write_all(self._fd_or_open(), b"".join(chunk))
        self._size += chunk_size

    def _fd_or_open(self) -> int:
        if self._fd is None:
            self._fd = _open_append(self.path)
            self._size = os.fstat(self._fd).st_size
        return self._fd

    def _rotate(self) -> None:
        _, backups = self._rotation
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if backups > 0:
            base = str(self.path)
            # Shift the backups that exist up by one; os.replace onto
            # path.{backups} drops the oldest.
            for index in range(min(self._backups_present, backups - 1), 0, -1):
                _replace_if_present(f"{base}.{index}", f"{base}.{index + 1}")
            _replace_if_present(base, f"{base}.1")
            self._backups_present = min(self._backups_present + 1, backups)
            self._fd = _open_append(self.path)
        else:
            # Truncate and continue.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._size = 0
        self.rotations += 1

    def _close_file(self) -> None:
        with self._io_lock:
            if self._fd is None:
                return
            try:
                os.close(self._fd)
            except OSError as exc:
                self._report(f"cannot close {self.path}: {exc.strerror or exc}")
            finally:
                self._fd = None

    def _report(self, message: str) -> None:
        # Straight to the real stderr: logging about a logging failure through
        # the logging pipeline could loop. At most one report a second.
        now = time.monotonic()
        if now - self._last_error_report < 1.0:
            return
        self._last_error_report = now
        stream = sys.__stderr__
        if stream is not None:
            try:
                stream.write(f"agentrt.logging: {message}\n")
                stream.flush()
            except (OSError, ValueError):
                pass


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _write_all(fd: int, data: bytes) -> None:
    # A regular file takes the whole buffer in one call; the loop only matters
    # for a short write (signal, full disk), and a zero-byte write must not spin.
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError("write(2) wrote nothing")
        view = view[written:]


def _replace_if_present(source: str, target: str) -> None:
    # Someone may have deleted a backup (or the file) behind our back: that
    # must not make the writer drop the batch it is writing.
    with contextlib.suppress(FileNotFoundError):
        os.replace(source, target)


def _count_backups(path: Path) -> int:
    count = 0
    while os.path.exists(f"{path}.{count + 1}"):
        count += 1
    return count


@atexit.register
def _close_forgotten_sinks() -> None:
    """Flush and close every sink still open at interpreter exit, so no line is lost."""
    with _live_lock:
        sinks = list(_live_sinks)
    for sink in sinks:
        sink.close()
