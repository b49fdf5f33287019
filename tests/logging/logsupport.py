"""Helpers for the logging tests: a settings dataclass shaped like the ``logging`` config
section, and readers for the files the sink writes. (A plain module, imported as ``logsupport``:
the test directories are not packages.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from agentrt.logging import LoggingHandle


@dataclass(frozen=True)
class Rotate:
    max_bytes: int = 10_000_000
    backups: int = 5


@dataclass(frozen=True)
class Console:
    format: str = "logfmt"
    stream: str = "stderr"


@dataclass(frozen=True)
class File:
    path: Path
    level: str | None = None
    rotate: Rotate = field(default_factory=Rotate)


@dataclass(frozen=True)
class Section:
    """Satisfies agentrt.logging.LoggingSettings structurally, like the pydantic LoggingSection."""

    level: str = "info"
    console: Console = field(default_factory=Console)
    file: File | None = None
    levels: dict[str, str] = field(default_factory=dict)
    redact: list[str] = field(default_factory=list)


def file_section(path: Path, *, max_bytes: int = 10_000_000, backups: int = 5, **kw: Any) -> Section:
    """A section with the console off and a file sink at ``path``."""
    kw.setdefault("console", Console(format="off"))
    return Section(file=File(path, rotate=Rotate(max_bytes=max_bytes, backups=backups)), **kw)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of one JSON-lines file."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line]


def rotated_files(path: Path) -> list[Path]:
    """``path`` and its backups ``path.1``, ``path.2``... that exist, newest first."""
    files = [path] if path.exists() else []
    index = 1
    while Path(f"{path}.{index}").exists():
        files.append(Path(f"{path}.{index}"))
        index += 1
    return files


Configure = Callable[..., LoggingHandle]
