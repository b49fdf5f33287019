"""Reading the JSON-lines log file back: what ``agentrt logs`` is built on.

``read_records`` yields one dict per line, filtered by level and by
``key=value`` pairs, and with ``follow=True`` keeps yielding lines as they are
appended, across rotations (the file replaced by a new one: the rest of the
old file is read first, then the new one from its start) and truncations
(``backups: 0``). A line that is not a JSON object never stops the reader: it
comes out as ``{"event": <the raw line>, "level": "unknown"}``.

``format_record`` renders a record as one readable line:
``07:35:25.123 INFO     agentrt.runtime started version=3``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final

import orjson

from agentrt.logging._logfmt import format_key, format_value

__all__ = ["LEVELS", "format_record", "read_records"]

LEVELS: Final = ("debug", "info", "warning", "error", "critical")
"""The levels ``read_records(level=...)`` accepts, lowest first (``warn`` and ``fatal`` are accepted too)."""

_LEVEL_RANK: Final = {
    "debug": 10,
    "info": 20,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "exception": 40,
    "critical": 50,
    "fatal": 50,
}
_CHUNK: Final = 1 << 16
_MISSING: Final = object()


def read_records(
    path: str | os.PathLike[str],
    *,
    follow: bool = False,
    level: str | None = None,
    grep: Sequence[tuple[str, str]] = (),
    poll_interval: float = 0.25,
) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSON-lines log file, oldest first.

    ``level`` keeps records at that level and above (records whose level is
    not a known one, malformed lines included, are then dropped); ``grep``
    keeps records where every ``key`` is present and its value, as text
    (``true``/``false``/``null``/JSON for non-strings), equals ``value``.
    Without ``follow`` a missing file raises ``FileNotFoundError``; with it,
    the reader waits for the file to appear and never ends by itself (stop
    iterating, or close the generator, to stop it).
    """
    min_rank: int | None = None
    if level is not None:
        min_rank = _LEVEL_RANK.get(level.strip().lower())
        if min_rank is None:
            raise ValueError(f"unknown level {level!r}: use debug, info, warning, error or critical")
    for line in _lines(Path(path), follow=follow, poll_interval=poll_interval):
        record = _parse(line)
        if record is None:
            continue
        if min_rank is not None:
            rank = _LEVEL_RANK.get(str(record.get("level", "")).lower())
            if rank is None or rank < min_rank:
                continue
        if grep and not all(_as_text(record.get(key, _MISSING)) == value for key, value in grep):
            continue
        yield record


def _parse(line: bytes) -> dict[str, Any] | None:
    line = line.rstrip(b"\r")
    if not line.strip():
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        record = None
    if isinstance(record, dict):
        return record
    return {"event": line.decode("utf-8", "replace"), "level": "unknown"}


def _as_text(value: Any) -> str | None:
    if value is _MISSING:
        return None
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _open_when_present(path: Path, *, follow: bool, poll_interval: float) -> IO[bytes]:
    while True:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            if not follow:
                raise
            time.sleep(poll_interval)


def _lines(path: Path, *, follow: bool, poll_interval: float) -> Iterator[bytes]:
    """Complete lines of ``path``; with ``follow``, forever, across rotation and truncation."""
    file = _open_when_present(path, follow=follow, poll_interval=poll_interval)
    pending = b""
    try:
        while True:
            chunk = file.read(_CHUNK)
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                yield from complete
                continue
            if not follow:
                if pending:
                    yield pending
                return
            try:
                current = os.stat(path)
            except FileNotFoundError:
                # Between the rename to .1 and the creation of the new file.
                time.sleep(poll_interval)
                continue
            if _identity(current) != _identity(os.fstat(file.fileno())):
                # Rotated. The writer only renames a file it has finished, so
                # reading the old one to its end loses nothing.
                pending += file.read()
                *complete, pending = pending.split(b"\n")
                yield from complete
                if pending:
                    yield pending
                    pending = b""
                file.close()
                file = _open_when_present(path, follow=True, poll_interval=poll_interval)
                continue
            if current.st_size < file.tell():
                # Truncated in place (backups: 0): start over.
                file.seek(0)
                pending = b""
                continue
            time.sleep(poll_interval)
    finally:
        file.close()


# --- one-line display --------------------------------------------------------------

_COLORS: Final = {
    "debug": "\x1b[2;36m",  # dim cyan
    "info": "\x1b[32m",  # green
    "warning": "\x1b[33m",  # yellow
    "error": "\x1b[31m",  # red
    "critical": "\x1b[1;41;97m",  # bold white on red
}
_RESET: Final = "\x1b[0m"
_HEAD_KEYS: Final = frozenset({"ts", "timestamp", "level", "logger", "event"})


def _clock(ts: Any) -> str:
    """``HH:MM:SS.mmm`` from an ISO 8601 timestamp, or a placeholder."""
    if isinstance(ts, str) and "T" in ts:
        clock = ts.partition("T")[2]
        hms = clock[:8]
        if len(hms) == 8 and hms[2] == ":" and hms[5] == ":":
            frac = clock[8:]
            digits = frac[1:4] if frac.startswith(".") else ""
            digits = "".join(c for c in digits if c.isdigit())
            return f"{hms}.{digits.ljust(3, '0')}"
    return "--:--:--.---"


def format_record(record: dict[str, Any], *, color: bool) -> str:
    """One readable line: ``HH:MM:SS.mmm LEVEL logger event key=value ...`` (level in colour if asked)."""
    level = str(record.get("level", "unknown")).lower()
    label = level.upper().ljust(8)
    if color:
        style = _COLORS.get(level)
        if style is not None:
            label = f"{style}{label}{_RESET}"
    parts = [_clock(record.get("ts", record.get("timestamp"))), label]
    logger = record.get("logger")
    if logger:
        parts.append(str(logger))
    event = record.get("event")
    # The event is shown bare; only line breaks, which would split the line, are escaped.
    parts.append(str(event).replace("\n", "\\n").replace("\r", "\\r"))
    parts.extend(f"{format_key(k)}={format_value(v)}" for k, v in record.items() if k not in _HEAD_KEYS)
    return " ".join(parts)
