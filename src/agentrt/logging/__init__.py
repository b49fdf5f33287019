"""Logging for agentrt: structlog configured from the ``logging`` config section.

Library code logs with ``structlog.get_logger("agentrt.xxx")`` (or
:func:`get_logger`) and ``log.info("event_name", key=value)``; the runtime and
the CLI call :func:`configure_logging` once, which sets up:

- levels: a global one and per-logger ones by dotted prefix, checked before
  any work is done, changeable at runtime (``LoggingHandle.reconfigure``);
- a console sink: ``logfmt`` (default), ``pretty``, ``json`` or ``off``;
- a JSON-lines file sink with size rotation, written by a background thread
  so a log call never waits for the disk;
- redaction of secrets (configured values, secret-named keys, key-shaped
  strings, tracebacks) before any sink sees an event;
- stdlib ``logging`` records (aiohttp, asyncio...) in the same sinks and format;
- context binding (:func:`bind_context`) through contextvars.

Modules: ``_settings`` (config shape), ``_logfmt``, ``_redact``, ``_sinks``
(console), ``_filesink``, ``_routing`` (levels and sinks per logger),
``_pipeline`` (processor chain), ``_boundlogger``, ``_stdlib``, ``_context``,
``_setup``, and ``reader`` (for ``agentrt logs``).
"""

from __future__ import annotations

from agentrt.logging._boundlogger import AgentrtBoundLogger, get_logger
from agentrt.logging._context import bind_context
from agentrt.logging._filesink import RotatingFileSink
from agentrt.logging._logfmt import LogfmtRenderer
from agentrt.logging._redact import REDACTED, RedactSecrets
from agentrt.logging._settings import ConsoleSettings, FileSettings, LoggingSettings, RotateSettings
from agentrt.logging._setup import LoggingHandle, configure_logging
from agentrt.logging.reader import format_record, read_records

__all__ = [
    "REDACTED",
    "AgentrtBoundLogger",
    "ConsoleSettings",
    "FileSettings",
    "LogfmtRenderer",
    "LoggingHandle",
    "LoggingSettings",
    "RedactSecrets",
    "RotateSettings",
    "RotatingFileSink",
    "bind_context",
    "configure_logging",
    "format_record",
    "get_logger",
    "read_records",
]
