"""``configure_logging`` and the handle that owns the configured sinks.

Lifetime::

    handle = configure_logging(config.logging, secrets=config.secret_values())
    ...                                   # library code logs through structlog
    handle.reconfigure(new.logging)       # hot reload: levels, formats, file, rotation
    handle.close()                        # flush, stop the writer, put structlog back

Several configurations may be open at once, one per runtime (structlog's
configuration is global, so they share it): each event goes to the sinks of
every open configuration whose levels accept it, one console shared by two is
written once, and the secrets of every open configuration are redacted in all
of them. Closing one leaves the others as they were; closing the last puts back
the structlog configuration and stdlib logger levels that were in force before
the first, which is what tests need to leave the process as they found it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

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
    """One open logging configuration (one per runtime): its sinks, levels and secrets.

    Created by :func:`configure_logging`. Several may be open at once; see the
    module docstring. ``close()`` is idempotent; after it, ``reconfigure`` raises
    ``RuntimeStateError``. Usable as a context manager (closes on exit).
    """

    def __init__(self, plan: _Plan, secrets: Iterable[str]) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._plan = plan
        self._secrets = tuple(secrets)
        self._console: ConsoleSink | None = None
        self._file: RotatingFileSink | None = None
        self._take_sinks(plan)

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
        """True once :meth:`close` has run."""
        return self._closed

    def reconfigure(self, section: LoggingSettings, *, secrets: Iterable[str] = ()) -> None:
        """Apply a new logging section without losing a line.

        Levels, per-logger levels, console format and stream, redaction and
        file rotation change in place; a new file path opens the new file
        first, switches every logger to it, then closes the old one (lines
        already queued for the old file are written to it). An invalid
        section raises ``ConfigError`` and changes nothing. Other open
        configurations are not touched.
        """
        plan = _plan(section)
        with _active_lock, self._lock:
            if self._closed:
                raise RuntimeStateError("this logging configuration is closed: call configure_logging() anew")
            old_file = self._take_sinks(plan)
            self._plan, self._secrets = plan, tuple(secrets)
            _install_open()
            _release_file(old_file)

    def flush(self) -> None:
        """Block until every event logged before this call is written by every sink."""
        with self._lock:
            console, file = self._console, self._file
        if file is not None:
            file.flush()
        if console is not None:
            console.flush()

    def close(self) -> None:
        """Flush and close this configuration's sinks; the other open ones keep theirs.

        When it was the last one open, stdlib logging is detached and the structlog
        setup and stdlib levels in force before the first one are put back.
        """
        global _previous
        with _active_lock, self._lock:
            if self._closed:
                return
            self._closed = True
            _open.remove(self)
            if _open:
                _install_open()
            else:
                install_routing(None)
                logging.getLogger().removeHandler(_BRIDGE)
                _STDLIB_LEVELS.restore()
                if _previous is not None:
                    _restore_structlog(_previous)
                    _previous = None
            file, self._file = self._file, None
            _release_file(file)
            if self._console is not None:
                self._console.flush()

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

    def _take_sinks(self, plan: _Plan) -> RotatingFileSink | None:
        """Point this handle at the sinks ``plan`` needs; the file sink it stopped using, to release.

        Everything that can fail (opening the file) happens before anything
        changes, so a failed reconfigure leaves the old setup running.
        """
        old_file = self._file
        if plan.file_path is None:
            file = None
        elif old_file is not None and old_file.path == plan.file_path:
            file = old_file
            file.set_rotation(max_bytes=plan.max_bytes, backups=plan.backups)
        else:
            file = _acquire_file(plan)
        console = self._console
        if plan.console_format == "off":
            console = None
        elif console is None or (console.format, console.stream_name) != (plan.console_format, plan.console_stream):
            console = _shared_console(plan.console_format, plan.console_stream)
        self._console, self._file = console, file
        return old_file if old_file is not file else None


# --- the open configurations ------------------------------------------------------

_BRIDGE: Final = StdlibBridge()
"""One root-logger handler for the process, so a stdlib record enters the pipeline once."""
_STDLIB_LEVELS: Final = StdlibLevels()
_open: list[LoggingHandle] = []
_previous: dict[str, Any] | None = None
"""The structlog setup in force before the first open configuration, put back when the last closes."""
_files: dict[Path, tuple[RotatingFileSink, int]] = {}
"""File sinks by path with their number of users: two runtimes writing one file share one writer."""


def _install_open() -> None:
    """Route to the sinks of every open configuration, and redact the secrets of all of them."""
    sinks: list[tuple[Sink, int]] = []
    overrides: list[Mapping[str, int]] = []
    secrets: list[str] = []
    keys: list[str] = []
    stdlib_overrides: dict[str, int] = {}
    for handle in _open:
        plan = handle._plan
        if handle._console is not None:
            sinks.append((handle._console, plan.level))
            overrides.append(plan.overrides)
        if handle._file is not None:
            sinks.append((handle._file, plan.file_level if plan.file_level is not None else plan.level))
            overrides.append(plan.overrides)
        secrets.extend(handle._secrets)
        keys.extend(plan.redact)
        for name, level in plan.overrides.items():
            stdlib_overrides[name] = min(level, stdlib_overrides.get(name, level))
    REDACTOR.update(dict.fromkeys(secrets), dict.fromkeys(keys))
    install_routing(Routing(sinks=tuple(sinks), sink_overrides=tuple(overrides)))
    stdlib_floor = min((max(base, WARNING) for _, base in sinks), default=OFF)
    _STDLIB_LEVELS.apply(stdlib_floor, stdlib_overrides)


def _shared_console(fmt: str, stream: str) -> ConsoleSink:
    # Two runtimes logging to one terminal share its sink: each line is printed once.
    for handle in _open:
        console = handle._console
        if console is not None and (console.format, console.stream_name) == (fmt, stream):
            return console
    return ConsoleSink(fmt, stream)


def _acquire_file(plan: _Plan) -> RotatingFileSink:
    assert plan.file_path is not None
    shared = _files.get(plan.file_path)
    if shared is not None:
        sink, users = shared
        sink.set_rotation(max_bytes=plan.max_bytes, backups=plan.backups)
        _files[plan.file_path] = (sink, users + 1)
        return sink
    try:
        sink = RotatingFileSink(plan.file_path, max_bytes=plan.max_bytes, backups=plan.backups)
    except OSError as exc:
        problem = ConfigProblem("logging.file.path", f"cannot open log file {plan.file_path}: {exc.strerror or exc}")
        raise ConfigError([problem]) from exc
    _files[plan.file_path] = (sink, 1)
    return sink


def _release_file(sink: RotatingFileSink | None) -> None:
    """One user fewer for ``sink``; closed (its queued lines written) when it was the last."""
    if sink is None:
        return
    shared = _files.get(sink.path)
    if shared is not None and shared[0] is sink and shared[1] > 1:
        _files[sink.path] = (sink, shared[1] - 1)
        return
    if shared is not None and shared[0] is sink:
        del _files[sink.path]
    sink.close()


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
    """Open a logging configuration from the ``logging`` config section; close it with ``handle.close()``.

    ``secrets`` are literal values (API keys...) redacted wherever they appear.
    Configurations add up (one per runtime): every open one gets the events its
    levels accept, and the secrets of all of them are redacted everywhere.
    Raises ``ConfigError`` for an invalid section or a log file that cannot be
    opened, before anything changes.
    """
    global _previous
    plan = _plan(section)
    with _active_lock:
        first = not _open
        previous = _snapshot_structlog() if first else None
        handle = LoggingHandle(plan, secrets)  # opens the file: may raise, nothing changed yet
        if previous is not None:
            _previous = previous
            _install_structlog()
            logging.getLogger().addHandler(_BRIDGE)
        _open.append(handle)
        _install_open()
        return handle
