"""The processor chain every event runs through, structlog's and the stdlib's alike.

::

    merge_contextvars   bind_context() / bind_contextvars() values
    RedactSecrets       first after the merge: renderers only ever see redacted data
    add_metadata        ts (UTC ISO 8601, microseconds), level, logger; canonical key order
    hand_to_sinks       passes the dict to SinkLogger, which routes it (structlog only)

The objects in these lists are created once per process and changed in place
(``REDACTOR.update``), and structlog is given the one ``PROCESSORS`` list
object, whose contents only change when a configuration is installed or
removed. Bound loggers cached on first use hold that list, so they follow
every reconfigure, and ``structlog.testing.capture_logs`` (which edits the
configured list in place) captures their events too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from structlog.contextvars import merge_contextvars
from structlog.typing import EventDict, Processor, WrappedLogger

from agentrt.logging._redact import RedactSecrets

__all__ = [
    "PROCESSORS",
    "REDACTOR",
    "STDLIB_PIPELINE",
    "add_metadata",
    "hand_to_sinks",
    "iso_timestamp",
    "our_processors",
]

REDACTOR: Final = RedactSecrets()

_CANONICAL: Final = {
    "debug": "debug",
    "info": "info",
    "msg": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "err": "error",
    "exception": "error",
    "critical": "critical",
    "fatal": "critical",
}

_time = time.time
# (second, "YYYY-MM-DDTHH:MM:SS."): strftime once a second instead of once an
# event; a tuple so that threads never see a half-updated pair.
_second_cache: tuple[int, str] = (-1, "")


def iso_timestamp(epoch: float | None = None) -> str:
    """``epoch`` (default: now) as UTC ISO 8601 with microseconds: ``2026-05-09T07:35:25.123456Z``."""
    global _second_cache
    now = _time() if epoch is None else epoch
    second = int(now)
    cache = _second_cache
    if second != cache[0]:
        cache = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
        _second_cache = cache
    # %d truncates, and now - second < 1, so this never reaches 1000000; it
    # measured faster than an f-string with int() and a format spec.
    return cache[1] + "%06dZ" % ((now - second) * 1_000_000)  # noqa: UP031


def add_metadata(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Add ``ts``, ``level`` and ``logger``, and put ``ts level logger event`` first.

    ``level`` and ``logger`` are reserved: values the caller passed under those
    keys are replaced. A ``ts`` already present (a stdlib record's creation
    time) is kept.
    """
    ts = event_dict.pop("ts", None) or iso_timestamp()
    level = _CANONICAL.get(method_name, method_name)
    name = getattr(logger, "name", "")
    event = event_dict.pop("event", None)
    head: dict[str, Any]
    if name:
        head = {"ts": ts, "level": level, "logger": name, "event": event}
    else:
        head = {"ts": ts, "level": level, "event": event}
    if "level" in event_dict or "logger" in event_dict:
        # The caller's kwargs must not overwrite the reserved keys.
        event_dict.pop("level", None)
        event_dict.pop("logger", None)
    head.update(event_dict)
    return head


_NO_KWARGS: Final[dict[str, Any]] = {}


def hand_to_sinks(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> tuple[Any, ...]:
    """Last processor: call the SinkLogger's level method with the event dict itself."""
    return (event_dict,), _NO_KWARGS


# Narrower than structlog's Processor: every step here returns an event dict.
PipelineStep = Callable[[WrappedLogger, str, EventDict], EventDict]
STDLIB_PIPELINE: Final[tuple[PipelineStep, ...]] = (merge_contextvars, REDACTOR, add_metadata)


def our_processors() -> list[Processor]:
    """A fresh copy of agentrt's structlog chain."""
    return [*STDLIB_PIPELINE, hand_to_sinks]


PROCESSORS: Final[list[Processor]] = our_processors()
"""The one list object given to ``structlog.configure``; its contents are swapped, never the list."""
