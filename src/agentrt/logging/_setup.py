"""``configure_logging`` and the handle that owns the configured sinks.

Lifetime::

    handle = configure_logging(config.logging, secrets=config.secret_values())
    ...                                   # library code logs through structlog
    handle.reconfigure(new.logging)       # hot reload: levels, formats, file, rotation
    handle.close()                        # flush, stop the writer, put structlog back

Only one configuration is active per process (structlog's configuration is
global): ``configure_logging`` closes the active handle first. ``close`` puts
back the structlog configuration and stdlib logger levels that were in force
before, which is what tests need to leave the process as they found it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog

from agentrt.errors import ConfigError, ConfigProblem, RuntimeStateError
from agentrt.logging._boundlogger import AgentrtBoundLogger
from agentrt.logging._filesink import RotatingFileSink
from agentrt.logging._pipeline import PROCESSORS, REDACTOR, our_processors
from agentrt.logging._routing import Routing, install_routing, sink_logger
from agentrt.logging._settings import OFF, WARNING, LoggingSettings, parse_level
from agentrt.logging._sinks import ConsoleSink, Sink
from agentrt.logging._stdlib import StdlibBridge, StdlibLevels

__all__ = ["LoggingHandle", "configure_logging"]

_CONSOLE_FORMATS = ("logfmt", "pretty", "json", "off")
_STREAMS = ("stderr", "stdout")

_active_lock = threading.RLock()
_active: LoggingHandle | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """A validated logging section."""

    level: int
    console_format: str
    console_stream: str
    file_path: Path | None
    file_level: int | None
    max_bytes: int
    backups: int
    overrides: dict[str, int]
    redact: tuple[str, ...]


def _plan(section: LoggingSettings) -> _Plan:
    problems: list[ConfigProblem] = []

    def level(value: str, path: str) -> int:
        try:
            return parse_level(value, field=path)
        except ValueError:
            problems.append(
                ConfigProblem(
                    f"logging.{path}", f"unknown level {value!r}: use debug, info, warning, error or critical"
                )
            )
            return WARNING

    global_level = level(section.level, "level")
    console_format = str(section.console.format).lower()
    if console_format not in _CONSOLE_FORMATS:
        problems.append(
            ConfigProblem(
                "logging.console.format",
                f"unknown format {console_format!r}: use logfmt, pretty, json or off",
            )
        )
    stream = str(section.console.stream).lower()
    if stream not in _STREAMS:
        message = f"unknown stream {stream!r}: use stderr or stdout"
        problems.append(ConfigProblem("logging.console.stream", message))
    overrides = {name: level(value, f"levels.{name}") for name, value in section.levels.items()}
    file_path: Path | None = None
    file_level: int | None = None
    max_bytes, backups = 0, 0
    file = section.file
    if file is not None:
        file_path = Path(file.path).expanduser().absolute()
        file_level = level(file.level, "file.level") if file.level is not None else None
        max_bytes, backups = int(file.rotate.max_bytes), int(file.rotate.backups)
        if backups < 0:
            problems.append(ConfigProblem("logging.file.rotate.backups", f"must be 0 or more, got {backups}"))
    if problems:
        raise ConfigError(problems)
    return _Plan(
        global_level,
        console_format,
        stream,
        file_path,
        file_level,
        max_bytes,
        backups,
        overrides,
        tuple(section.redact),
    )


class LoggingHandle:
    """The active logging configuration: its sinks, its stdlib bridge, and how to undo it.

    Created by :func:`configure_logging`. ``close()`` is idempotent; after it,
    ``reconfigure`` raises ``RuntimeStateError``. Usable as a context manager
    (closes on exit).
    """

    def __init__(self, plan: _Plan, secrets: Iterable[str], previous: dict[str, Any]) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._previous = previous
        self._console: ConsoleSink | None = None
        self._file: RotatingFileSink | None = None
        self._bridge = StdlibBridge()
        self._stdlib_levels = StdlibLevels()
        self._apply(plan, tuple(secrets))
        logging.getLogger().addHandler(self._bridge)

    # --- public API ----------------------------------------------------------------

    @property
    def file_path(self) -> Path | None:
        """The JSON-lines file being written, or None without a file sink."""
        return self._file.path if self._file is not None else None

    @property
    def file_sink(self) -> RotatingFileSink | None:
        """The file sink (statistics, ``paused()``), or None."""
        return self._file

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run (or a later ``configure_logging`` replaced this handle)."""
        return self._closed

    def reconfigure(self, section: LoggingSettings, *, secrets: Iterable[str] = ()) -> None:
        """Apply a new logging section without losing a line.

        Levels, per-logger levels, console format and stream, redaction and
        file rotation change in place; a new file path opens the new file
        first, switches every logger to it, then closes the old one (lines
        already queued for the old file are written to it). An invalid
        section raises ``ConfigError`` and changes nothing.
        """
        plan = _plan(section)
        with self._lock:
            if self._closed:
                raise RuntimeStateError("this logging configuration is closed: call configure_logging() anew")
            self._apply(plan, tuple(secrets))

    def flush(self) -> None:
        """Block until every event logged before this call is written by every sink."""
        with self._lock:
            console, file = self._console, self._file
        if file is not None:
            file.flush()
        if console is not None:
            console.flush()

    def close(self) -> None:
        """Flush and close the sinks, detach from stdlib logging, restore the previous structlog setup."""
        global _active
        with self._lock:
            if self._closed:
                return
            self._closed = True
            install_routing(None)
            logging.getLogger().removeHandler(self._bridge)
            self._stdlib_levels.restore()
            _restore_structlog(self._previous)
            if self._file is not None:
                self._file.close()
            if self._console is not None:
                self._console.flush()
        with _active_lock:
            if _active is self:
                _active = None

    def __enter__(self) -> LoggingHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "active"
        return f"<LoggingHandle {state} file={self.file_path}>"

    # --- internals -----------------------------------------------------------------

    def _apply(self, plan: _Plan, secrets: tuple[str, ...]) -> None:
        # Everything that can fail (opening the file) happens before anything
        # changes, so a failed reconfigure leaves the old setup running.
        old_file = self._file
        if plan.file_path is None:
            file = None
        elif old_file is not None and old_file.path == plan.file_path:
            file = old_file
            file.set_rotation(max_bytes=plan.max_bytes, backups=plan.backups)
        else:
            try:
                file = RotatingFileSink(plan.file_path, max_bytes=plan.max_bytes, backups=plan.backups)
            except OSError as exc:
                problem = ConfigProblem(
                    "logging.file.path", f"cannot open log file {plan.file_path}: {exc.strerror or exc}"
                )
                raise ConfigError([problem]) from exc

        console = self._console
        if plan.console_format == "off":
            console = None
        elif console is None or (console.format, console.stream_name) != (
            plan.console_format,
            plan.console_stream,
        ):
            console = ConsoleSink(plan.console_format, plan.console_stream)

        REDACTOR.update(secrets, plan.redact)
        sinks: list[tuple[Sink, int]] = []
        if console is not None:
            sinks.append((console, plan.level))
        if file is not None:
            sinks.append((file, plan.file_level if plan.file_level is not None else plan.level))
        install_routing(Routing(sinks=tuple(sinks), overrides=dict(plan.overrides)))
        stdlib_floor = min((max(base, WARNING) for _, base in sinks), default=OFF)
        self._stdlib_levels.apply(stdlib_floor, plan.overrides)
        self._console, self._file = console, file
        if old_file is not None and old_file is not file:
            old_file.close()


def _snapshot_structlog() -> dict[str, Any]:
    config = structlog.get_config()
    previous = dict(config)
    # A copy of the contents: when the configured list is PROCESSORS itself
    # (a previous agentrt configuration was closed), we are about to refill it.
    previous["processors"] = list(config["processors"])
    return previous


def _install_structlog() -> None:
    PROCESSORS[:] = our_processors()
    structlog.configure(
        processors=PROCESSORS,
        wrapper_class=AgentrtBoundLogger,
        logger_factory=sink_logger,
        context_class=dict,
        # Safe and cheap here: levels and sinks live on the SinkLogger and the
        # pipeline objects, which reconfigure updates in place.
        cache_logger_on_first_use=True,
    )


def _restore_structlog(previous: dict[str, Any]) -> None:
    # Keep the PROCESSORS list object configured: loggers cached while agentrt
    # was active hold it, so they (and capture_logs) follow the restored chain.
    PROCESSORS[:] = previous["processors"]
    structlog.configure(
        processors=PROCESSORS,
        wrapper_class=previous["wrapper_class"],
        logger_factory=previous["logger_factory"],
        context_class=previous["context_class"],
        cache_logger_on_first_use=previous["cache_logger_on_first_use"],
    )


def configure_logging(section: LoggingSettings, *, secrets: Iterable[str] = ()) -> LoggingHandle:
    """Configure structlog and stdlib logging, process-wide, from the ``logging`` config section.

    ``secrets`` are literal values (API keys...) redacted wherever they appear.
    Replaces (closes) any configuration made by an earlier call. Raises
    ``ConfigError`` for an invalid section or a log file that cannot be opened,
    before anything changes.
    """
    global _active
    plan = _plan(section)
    with _active_lock:
        if _active is not None:
            _active.close()
        previous = _snapshot_structlog()
        _install_structlog()
        try:
            handle = LoggingHandle(plan, secrets, previous)
        except BaseException:
            install_routing(None)
            _restore_structlog(previous)
            raise
        _active = handle
        return handle
