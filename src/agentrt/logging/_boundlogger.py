"""The bound logger class: structlog's ``FilteringBoundLogger`` API with a level that can change.

structlog's own filtering loggers bake the level into the class, so a reload
could not lower or raise it for loggers already cached. Here every level
method first compares its level with ``min_level`` of the wrapped
:class:`~agentrt.logging._routing.SinkLogger` (per logger name, updated in
place on reconfigure): a filtered call costs one attribute read and one
comparison, and nothing is built.

The event path is structlog's (``context.copy()``, ``update(kw)``, processors,
then the wrapped logger's method), written out in one frame: on this hot path
the saved calls are a measurable share of a log call.

The ``a*`` methods (``await log.ainfo(...)``) log synchronously: the file sink
never blocks (it queues), so there is no need for structlog's thread-pool hop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import structlog
from structlog import BoundLoggerBase, DropEvent
from structlog.typing import FilteringBoundLogger

from agentrt.logging._settings import CRITICAL, DEBUG, ERROR, INFO, WARNING, level_name

__all__ = ["AgentrtBoundLogger", "get_logger"]


def _min_level(logger: Any) -> int:
    # Any other wrapped logger (someone's wrap_logger()) is never filtered.
    level: int = getattr(logger, "min_level", 0)
    return level


def _interpolate(event: str, args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        return event % args[0]
    return event % args


def _run_chain(self: AgentrtBoundLogger, logger: Any, name: str, event_dict: dict[str, Any]) -> Any:
    """What structlog's ``_proxy_to_logger`` does, in one frame instead of three."""
    result: Any = event_dict
    try:
        for processor in self._processors:
            result = processor(logger, name, result)
    except DropEvent:
        return None
    if type(result) is tuple:
        args, kw = result
        return getattr(logger, name)(*args, **kw)
    if isinstance(result, str | bytes | bytearray):
        return getattr(logger, name)(result)
    if isinstance(result, dict):
        return getattr(logger, name)(**result)
    raise ValueError("the last processor must return a dict, a tuple of (args, kwargs), bytes or a str")


def _level_method(level: int, name: str) -> Callable[..., Any]:
    def method(self: AgentrtBoundLogger, event: str, *args: Any, **kw: Any) -> Any:
        logger = self._logger
        if level < getattr(logger, "min_level", 0):
            return None
        if args:
            event = _interpolate(event, args)
        # ``kw`` is a fresh dict owned by this call: it becomes the event dict
        # (same content and key order as structlog's context.copy() + update).
        context = self._context
        event_dict = {**context, **kw} if context else kw
        event_dict["event"] = event
        return _run_chain(self, logger, name, event_dict)

    method.__name__ = name
    method.__doc__ = f"Log ``event % args`` with ``**kw`` at {name} level."
    return method


def _async_level_method(level: int, name: str) -> Callable[..., Any]:
    sync = _level_method(level, name)

    async def method(self: AgentrtBoundLogger, event: str, *args: Any, **kw: Any) -> Any:
        return sync(self, event, *args, **kw)

    method.__name__ = f"a{name}"
    method.__doc__ = f"Log ``event % args`` with ``**kw`` at {name} level (same as the sync method)."
    return method


class AgentrtBoundLogger(BoundLoggerBase):
    """A structlog bound logger honouring per-logger levels that a reconfigure can change.

    Same methods as ``structlog.typing.FilteringBoundLogger``.
    """

    debug = _level_method(DEBUG, "debug")
    info = _level_method(INFO, "info")
    msg = info
    warning = _level_method(WARNING, "warning")
    warn = warning
    error = _level_method(ERROR, "error")
    err = error
    critical = _level_method(CRITICAL, "critical")
    fatal = critical

    adebug = _async_level_method(DEBUG, "debug")
    ainfo = _async_level_method(INFO, "info")
    amsg = ainfo
    awarning = _async_level_method(WARNING, "warning")
    awarn = awarning
    aerror = _async_level_method(ERROR, "error")
    acritical = _async_level_method(CRITICAL, "critical")
    afatal = acritical

    def exception(self, event: str, *args: Any, **kw: Any) -> Any:
        """Log at error level with the current exception attached (``exc_info``)."""
        kw.setdefault("exc_info", True)
        return self.error(event, *args, **kw)

    async def aexception(self, event: str, *args: Any, **kw: Any) -> Any:
        """Async :meth:`exception`."""
        kw.setdefault("exc_info", True)
        return self.error(event, *args, **kw)

    def log(self, level: int, event: str, *args: Any, **kw: Any) -> Any:
        """Log at a numeric (stdlib) level."""
        logger = self._logger
        if level < _min_level(logger):
            return None
        if args:
            event = _interpolate(event, args)
        context = self._context
        event_dict = {**context, **kw} if context else kw
        event_dict["event"] = event
        return _run_chain(self, logger, level_name(level), event_dict)

    async def alog(self, level: int, event: str, *args: Any, **kw: Any) -> Any:
        """Async :meth:`log`."""
        return self.log(level, event, *args, **kw)

    def is_enabled_for(self, level: int) -> bool:
        """Whether an event at ``level`` would reach at least one sink of this logger."""
        return level >= _min_level(self._logger)

    def get_effective_level(self) -> int:
        """The lowest level any sink accepts for this logger."""
        return _min_level(self._logger)


def get_logger(name: str, **initial_values: Any) -> FilteringBoundLogger:
    """``structlog.get_logger(name, **initial_values)``, typed.

    Library code may equally call ``structlog.get_logger("agentrt.x")``; both
    follow the configuration in force when they log, not when they were created.
    """
    return cast(FilteringBoundLogger, structlog.get_logger(name, **initial_values))
