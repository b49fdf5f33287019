"""Reading a config file and the files it includes into one tree of plain data.

Alongside the data it keeps, for every path, where the value came from
(``agentrt.yaml:12``, ``models.yaml:3``, ``env AGENTRT__LOGGING__LEVEL``), so that
any later problem can point at the line to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from agentrt.config._formats import Include, SyntaxProblem, parse
from agentrt.config._paths import Loc, format_path
from agentrt.errors import ConfigProblem

__all__ = ["SCHEMA_KEY", "Origins", "Reader"]

SCHEMA_KEY = "$schema"
"""A key at the top of any config file that names its JSON Schema for editors; the loader drops it."""


class Origins:
    """Where each path of the data came from; a path without an entry takes its nearest ancestor's."""

    def __init__(self) -> None:
        self._by_loc: dict[Loc, str] = {}

    def set(self, loc: Loc, origin: str) -> None:
        self._by_loc[loc] = origin

    def get(self, loc: Loc) -> str | None:
        """The origin of ``loc``, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            origin = self._by_loc.get(loc[:end])
            if origin is not None:
                return origin
        return None

    def replace(self, loc: Loc, entries: Iterable[tuple[Loc, str]]) -> None:
        """Forget what was known under ``loc`` (a value replaced it) and record ``entries`` instead."""
        size = len(loc)
        for known in [known for known in self._by_loc if known[:size] == loc and len(known) > size]:
            del self._by_loc[known]
        for known, origin in entries:
            self._by_loc[known] = origin

    def under(self, loc: Loc) -> list[tuple[Loc, str]]:
        """The entries at and below ``loc``, with ``loc`` cut off their paths."""
        size = len(loc)
        return [(known[size:], origin) for known, origin in self._by_loc.items() if known[:size] == loc]


class Reader:
    """Reads a file and, recursively, the files it includes.

    Problems that leave the data incomplete (syntax, a missing include, a cycle) go
    to ``fatal``; the others (a duplicated key) to ``problems``. ``files`` lists every
    file read, the main one first, as absolute paths.

    Included files must lie inside ``base_dir`` (the main file's folder), symlinks
    and ``..`` resolved, or inside a folder the main file lists under
    ``runtime.include_paths``: an include can never read a file elsewhere on the
    machine, and the content of a refused file is never read, let alone shown.
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir.absolute()
        self.allowed_roots: list[Path] = [self.base_dir.resolve()]
        self.origins = Origins()
        self.files: list[Path] = []
        self.fatal: list[ConfigProblem] = []
        self.problems: list[ConfigProblem] = []

    def display(self, path: Path) -> str:
        """A path as problems show it: relative to the main file's directory when inside it."""
        try:
            return path.relative_to(self.base_dir).as_posix()
        except ValueError:
            return str(path)

    def read_file(
        self, path: Path, loc: Loc = (), chain: tuple[Path, ...] = (), *, main: bool = False
    ) -> Any:
        """Read ``path`` and the files it includes; its data goes at ``loc`` of the whole tree.

        ``main`` marks the config file itself, as opposed to a file it includes.
        """
        path = path.expanduser().absolute()
        where = None if main else self.origins.get(loc)
        if path in chain:
            cycle = " -> ".join(self.display(item) for item in (*chain, path))
            self.fatal.append(
                ConfigProblem(format_path(loc), f"include cycle {cycle}: remove one of these includes", where)
            )
            return None
        if not main and not self._inside_allowed(path):
            self.fatal.append(ConfigProblem(format_path(loc), self._outside(path, chain), where))
            return None
        if not path.is_file():
            self.fatal.append(ConfigProblem(format_path(loc), self._missing(path, chain, main=main), where))
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            self.fatal.append(
                ConfigProblem(format_path(loc), f"cannot read {self.display(path)}: {reason}", where)
            )
            return None
        if path not in self.files:
            self.files.append(path)
        name = self.display(path)
        try:
            parsed = parse(text, path.suffix)
        except SyntaxProblem as exc:
            source = f"{name}:{exc.line}" if exc.line else name
            self.fatal.append(ConfigProblem(format_path(loc), exc.message, source))
            return None
        if main:
            self.origins.set(loc, name)
            self.allow_from(parsed.data, path.parent)
        for rel, line in parsed.lines.items():
            self.origins.set((*loc, *rel), f"{name}:{line}")
        for dup in parsed.duplicates:
            self.problems.append(
                ConfigProblem(
                    format_path((*loc, *dup.loc)),
                    f"key given twice (first at line {dup.first_line}); the last one would win: remove one",
                    f"{name}:{dup.line}",
                )
            )
        data = parsed.data
        if isinstance(data, dict):
            # Editors find a file's JSON Schema under this key; it is not configuration.
            data.pop(SCHEMA_KEY, None)
        return self.resolve_includes(data, loc, path.parent, (*chain, path))

    def resolve_includes(self, data: Any, loc: Loc, base: Path, chain: tuple[Path, ...]) -> Any:
        """Replace every ``!include name`` and ``{include: name}`` in ``data`` by that file's content."""
        name = _include_name(data)
        if name is not None:
            return self.read_file(base / name, loc, chain)
        if isinstance(data, dict):
            return {
                key: self.resolve_includes(value, (*loc, key), base, chain) for key, value in data.items()
            }
        if isinstance(data, list):
            return [
                self.resolve_includes(value, (*loc, index), base, chain) for index, value in enumerate(data)
            ]
        return data

    def allow_from(self, data: Any, base: Path) -> None:
        """Add the folders that ``data`` (the main file's own content) lists under ``runtime.include_paths``.

        Only a literal list in the main file counts: an included file cannot widen
        the set of files that may be included.
        """
        runtime = data.get("runtime") if isinstance(data, Mapping) else None
        paths = runtime.get("include_paths") if isinstance(runtime, Mapping) else None
        if not isinstance(paths, list):
            return  # anything else is a shape problem that validation reports
        for entry in paths:
            if isinstance(entry, str) and entry and "${" not in entry:
                self.allowed_roots.append((base / Path(entry).expanduser()).resolve())

    def _inside_allowed(self, path: Path) -> bool:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop: refuse rather than follow
            return False
        return any(real.is_relative_to(root) for root in self.allowed_roots)

    def _outside(self, path: Path, chain: tuple[Path, ...]) -> str:
        message = (
            f"included file {self.display(path)} is outside the project folder {self.base_dir} "
            "(after following .. and symlinks): move it into that folder, or list its folder "
            "under runtime.include_paths in the main config file"
        )
        if len(chain) > 1:
            message += f" (included from {' -> '.join(self.display(item) for item in chain)})"
        return message

    def _missing(self, path: Path, chain: tuple[Path, ...], *, main: bool) -> str:
        if main:
            return f"config file not found: {path}"
        message = f"included file {self.display(path)} not found: create it or fix the include"
        if len(chain) > 1:
            message += f" (included from {' -> '.join(self.display(item) for item in chain)})"
        return message


def _include_name(data: Any) -> str | None:
    if isinstance(data, Include):
        return data.name
    if isinstance(data, Mapping) and len(data) == 1 and isinstance(data.get("include"), str):
        return str(data["include"])
    return None


def walk_strings(
    data: Any, loc: Loc, visit: Callable[[Loc, str], Any], skip: Callable[[Loc], bool] = lambda _: False
) -> Any:
    """A copy of ``data`` with every string replaced by ``visit(loc, string)``; ``skip`` prunes subtrees."""
    if skip(loc):
        return data
    if isinstance(data, str):
        return visit(loc, data)
    if isinstance(data, dict):
        return {key: walk_strings(value, (*loc, key), visit, skip) for key, value in data.items()}
    if isinstance(data, list):
        return [walk_strings(value, (*loc, index), visit, skip) for index, value in enumerate(data)]
    return data
