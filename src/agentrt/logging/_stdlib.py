"""The bridge from the stdlib ``logging`` module (aiohttp, asyncio, watchfiles...) to the sinks.

A handler on the root logger turns each record into an event dict and runs
the same pipeline as structlog events (context merge, redaction, metadata),
then the same routing, so a library's warning looks exactly like ours in
every sink: ``ts=... level=warning logger=aiohttp.client event="..."``.

Levels: the root logger is set to the lowest stdlib base level (WARNING unless
the global level is higher), and every ``levels`` entry is set on the stdlib
logger of that name, so the stdlib's own hierarchy drops filtered records
before a ``LogRecord`` is even built. The levels touched are remembered and
restored on reconfigure and close.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from structlog.typing import EventDict

from agentrt.logging._pipeline import STDLIB_PIPELINE, iso_timestamp
from agentrt.logging._routing import stdlib_sink_logger
from agentrt.logging._settings import level_name

__all__ = ["StdlibBridge", "StdlibLevels"]

# Attributes every LogRecord has; anything else came from ``extra={...}``.
_RECORD_ATTRS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


class StdlibBridge(logging.Handler):
    """Root-logger handler forwarding records into agentrt's pipeline and sinks."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            logger = stdlib_sink_logger(record.name)
            levelno = record.levelno
            if levelno < logger.min_level:
                return
            method = level_name(levelno)
            event_dict: EventDict = _event_dict(record)
            for processor in STDLIB_PIPELINE:
                event_dict = processor(logger, method, event_dict)
            logger.emit(levelno, event_dict)
        except Exception:
            self.handleError(record)


def _event_dict(record: logging.LogRecord) -> dict[str, Any]:
    try:
        message = record.getMessage()
    except Exception:  # bad %-args: keep the template rather than lose the record
        message = str(record.msg)
    event_dict: dict[str, Any] = {"event": message, "ts": iso_timestamp(record.created)}
    for key, value in record.__dict__.items():
        if key not in _RECORD_ATTRS and not key.startswith("_"):
            event_dict[key] = value
    if record.exc_info and record.exc_info[0] is not None:
        event_dict["exc_info"] = record.exc_info  # rendered (and redacted) by RedactSecrets
    elif record.exc_text:
        event_dict["exception"] = record.exc_text
    if record.stack_info:
        event_dict["stack"] = record.stack_info
    return event_dict


class StdlibLevels:
    """Sets stdlib logger levels for a configuration and puts the previous ones back."""

    def __init__(self) -> None:
        self._saved: dict[str, int] = {}

    def apply(self, root_level: int, overrides: Mapping[str, int]) -> None:
        """Set the root level and one level per ``overrides`` name, remembering the originals."""
        self.restore()
        for name, level in {"": root_level, **overrides}.items():
            logger = logging.getLogger(name or None)
            self._saved.setdefault(name, logger.level)
            logger.setLevel(level)

    def restore(self) -> None:
        """Put back every level :meth:`apply` changed."""
        for name, level in self._saved.items():
            logging.getLogger(name or None).setLevel(level)
        self._saved.clear()
