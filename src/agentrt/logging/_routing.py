"""Routing: which sinks an event of a given logger and level goes to.

structlog wraps one :class:`SinkLogger` per logger name (the object its
``logger_factory`` returns). A ``SinkLogger`` carries, precomputed for its
name, the lowest level any sink accepts (``min_level``, read by the bound
logger to drop a filtered call before any work) and the tuple of
``(sink, threshold)`` pairs the event is handed to.

Reconfiguring never replaces these objects: it recomputes ``min_level`` and
``routes`` on every registered ``SinkLogger`` in place. That is what lets
structlog cache bound loggers on first use (a filtered call then costs one
attribute read and a comparison) while a reload still changes levels and sinks
for loggers that were created, cached or ``bind()``-ed long before.

Level rules, per sink: the threshold of logger ``name`` is the level of the
longest ``levels`` entry that equals ``name`` or is a dotted prefix of it
(``agentrt.providers`` covers ``agentrt.providers.openai``); without one, the
sink's base level (console: ``level``; file: ``file.level`` or ``level``).
Records that come from the stdlib ``logging`` module have a base of at least
WARNING, so chatty libraries stay quiet unless ``levels`` names them.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agentrt.logging._settings import CRITICAL, DEBUG, ERROR, INFO, OFF, WARNING
from agentrt.logging._sinks import Sink

__all__ = ["Routing", "SinkLogger", "install_routing", "sink_logger", "stdlib_sink_logger"]

Route = tuple[Sink, int]


@dataclass(frozen=True, slots=True)
class Routing:
    """One configuration's routing: sinks with base levels, and per-logger overrides."""

    sinks: Sequence[tuple[Sink, int]] = ()
    """``(sink, base level)`` pairs."""
    overrides: Mapping[str, int] = field(default_factory=dict)
    """Per-logger levels by dotted prefix."""
    passthrough: bool = False
    """No agentrt configuration is active: nothing is filtered, events go to :func:`_fallback_print`."""
    sink_overrides: Sequence[Mapping[str, int]] = ()
    """Per-logger levels for each sink, in the order of ``sinks``, when the sinks come from
    several configurations (one per runtime); empty: ``overrides`` applies to every sink."""

    def override_for(self, name: str, overrides: Mapping[str, int] | None = None) -> int | None:
        """The level of the longest prefix of ``name`` in ``overrides`` (default: ``self.overrides``), or None."""
        best: int | None = None
        best_len = -1
        for prefix, level in (self.overrides if overrides is None else overrides).items():
            if len(prefix) > best_len and (name == prefix or name.startswith(prefix + ".")):
                best, best_len = level, len(prefix)
        return best

    def routes_for(self, name: str, *, stdlib: bool = False) -> tuple[int, tuple[Route, ...]]:
        """``(min_level, routes)`` for the logger called ``name``; a sink listed twice gets one route."""
        if self.passthrough:
            return 0, ()
        shared = self.override_for(name) if not self.sink_overrides else None
        thresholds: dict[int, Route] = {}
        for index, (sink, base) in enumerate(self.sinks):
            override = self.override_for(name, self.sink_overrides[index]) if self.sink_overrides else shared
            if override is not None:
                threshold = override
            elif stdlib:
                threshold = max(base, WARNING)
            else:
                threshold = base
            known = thresholds.get(id(sink))
            if known is None or threshold < known[1]:
                thresholds[id(sink)] = (sink, threshold)
        routes = tuple(thresholds.values())
        min_level = min((t for _, t in routes), default=OFF)
        return min_level, routes


def _fallback_print(*args: Any, **kw: Any) -> None:
    """What a SinkLogger does with an event when agentrt's configuration is not active.

    After ``LoggingHandle.close()`` the previous structlog configuration is back,
    but loggers cached while ours was active still hold a SinkLogger; they run
    the restored processors, whose output (usually a rendered string) lands
    here and is printed like structlog's default ``PrintLogger`` would.
    """
    message = args[0] if len(args) == 1 and not kw else (args, kw)
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.write(f"{message}\n")
        stream.flush()
    except (OSError, ValueError):
        pass


class SinkLogger:
    """The logger structlog wraps: one per name, routing each processed event to the sinks.

    Its level methods receive the final event dict (the pipeline's last
    processor passes it as the only argument).
    """

    __slots__ = ("min_level", "name", "routes")

    def __init__(self, name: str, min_level: int, routes: tuple[Route, ...]) -> None:
        self.name = name
        self.min_level = min_level
        self.routes = routes

    def __repr__(self) -> str:
        return f"<SinkLogger {self.name!r} min_level={self.min_level}>"

    def emit(self, levelno: int, *args: Any, **kw: Any) -> None:
        """Hand the event to every sink whose threshold it meets. Never raises."""
        routes = self.routes  # one read: a concurrent reconfigure swaps the whole tuple
        if len(args) == 1 and not kw and type(args[0]) is dict:
            event_dict = args[0]
            for sink, threshold in routes:
                if levelno >= threshold:
                    try:
                        sink.emit(event_dict)
                    except Exception as exc:  # logging must never break the caller
                        _report_sink_error(sink, exc)
        elif not routes:
            _fallback_print(*args, **kw)

    def debug(self, *args: Any, **kw: Any) -> None:
        self.emit(DEBUG, *args, **kw)

    def info(self, *args: Any, **kw: Any) -> None:
        self.emit(INFO, *args, **kw)

    def warning(self, *args: Any, **kw: Any) -> None:
        self.emit(WARNING, *args, **kw)

    def error(self, *args: Any, **kw: Any) -> None:
        self.emit(ERROR, *args, **kw)

    def critical(self, *args: Any, **kw: Any) -> None:
        self.emit(CRITICAL, *args, **kw)

    # Aliases structlog may call with other method names.
    msg = info
    warn = warning
    err = error
    exception = error
    fatal = critical


def _report_sink_error(sink: Sink, exc: Exception) -> None:
    stream = sys.__stderr__
    if stream is not None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(f"agentrt.logging: {type(sink).__name__} failed: {type(exc).__name__}: {exc}\n")


# --- the process-wide registry ---------------------------------------------------

_PASSTHROUGH: Final = Routing(passthrough=True)
_lock = threading.Lock()
_routing: Routing = _PASSTHROUGH
_structlog_loggers: dict[str, SinkLogger] = {}
_stdlib_loggers: dict[str, SinkLogger] = {}


def sink_logger(*args: Any) -> SinkLogger:
    """structlog ``logger_factory``: the SinkLogger for ``get_logger(name)`` (``""`` without a name)."""
    name = args[0] if args else ""
    if not isinstance(name, str):
        name = str(name)
    logger = _structlog_loggers.get(name)
    if logger is None:
        with _lock:
            logger = _structlog_loggers.get(name)
            if logger is None:
                logger = SinkLogger(name, *_routing.routes_for(name))
                _structlog_loggers[name] = logger
    return logger


def stdlib_sink_logger(name: str) -> SinkLogger:
    """The SinkLogger for records of the stdlib logger ``name`` (stdlib base levels apply)."""
    logger = _stdlib_loggers.get(name)
    if logger is None:
        with _lock:
            logger = _stdlib_loggers.get(name)
            if logger is None:
                logger = SinkLogger(name, *_routing.routes_for(name, stdlib=True))
                _stdlib_loggers[name] = logger
    return logger


def install_routing(routing: Routing | None) -> None:
    """Make ``routing`` current for every logger, existing or future (``None``: passthrough)."""
    global _routing
    with _lock:
        _routing = routing if routing is not None else _PASSTHROUGH
        for registry, stdlib in ((_structlog_loggers, False), (_stdlib_loggers, True)):
            for name, logger in registry.items():
                min_level, routes = _routing.routes_for(name, stdlib=stdlib)
                # routes first: a stale min_level only lets a few more events
                # reach the (already current) routes, which filter again.
                logger.routes = routes
                logger.min_level = min_level
