"""What ``configure_logging`` reads: the shape of the ``logging`` config section.

These are Protocols, not models, so this package does not depend on
``agentrt.config``: its pydantic ``LoggingSection`` satisfies them structurally,
and tests can pass a small dataclass. Every member is a read-only property so
that frozen models and dataclasses both match.

Levels are typed ``str`` rather than a ``Literal`` so that a ``StrEnum`` or a
plain string also fits; :func:`parse_level` validates them at configure time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, Protocol

__all__ = [
    "LEVEL_NAMES",
    "ConsoleSettings",
    "FileSettings",
    "LoggingSettings",
    "RotateSettings",
    "level_name",
    "parse_level",
]

# The numeric values are the stdlib's, so stdlib records and structlog events
# compare on one scale.
DEBUG: Final = 10
INFO: Final = 20
WARNING: Final = 30
ERROR: Final = 40
CRITICAL: Final = 50
OFF: Final = 100  # above every level: "nothing passes"

LEVEL_NAMES: Final[Mapping[str, int]] = {
    "debug": DEBUG,
    "info": INFO,
    "warning": WARNING,
    "error": ERROR,
    "critical": CRITICAL,
}
_ALIASES: Final[Mapping[str, str]] = {"warn": "warning", "fatal": "critical", "exception": "error"}


class RotateSettings(Protocol):
    """Size rotation of the log file."""

    @property
    def max_bytes(self) -> int: ...

    @property
    def backups(self) -> int: ...


class ConsoleSettings(Protocol):
    """The console sink: ``format`` is ``logfmt``, ``pretty``, ``json`` or ``off``."""

    @property
    def format(self) -> str: ...

    @property
    def stream(self) -> str: ...


class FileSettings(Protocol):
    """The JSON-lines file sink. ``path`` is absolute; ``level`` ``None`` means the global level."""

    @property
    def path(self) -> Path: ...

    @property
    def level(self) -> str | None: ...

    @property
    def rotate(self) -> RotateSettings: ...


class LoggingSettings(Protocol):
    """The ``logging`` section: global level, sinks, per-logger levels, extra keys to redact."""

    @property
    def level(self) -> str: ...

    @property
    def console(self) -> ConsoleSettings: ...

    @property
    def file(self) -> FileSettings | None: ...

    @property
    def levels(self) -> Mapping[str, str]: ...

    @property
    def redact(self) -> Sequence[str]: ...


def parse_level(value: str, *, field: str = "level") -> int:
    """The numeric level of a level name (case-insensitive, ``warn`` accepted); ``ValueError`` otherwise."""
    name = str(value).strip().lower()
    name = _ALIASES.get(name, name)
    try:
        return LEVEL_NAMES[name]
    except KeyError:
        choices = ", ".join(LEVEL_NAMES)
        raise ValueError(f"logging {field}: unknown level {value!r}, use one of {choices}") from None


def level_name(levelno: int) -> str:
    """The canonical name of a numeric level; stdlib custom levels round down (``TRACE=5`` -> ``debug``)."""
    if levelno >= CRITICAL:
        return "critical"
    if levelno >= ERROR:
        return "error"
    if levelno >= WARNING:
        return "warning"
    if levelno >= INFO:
        return "info"
    return "debug"
