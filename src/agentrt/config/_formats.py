"""Parsing YAML, JSON and TOML into plain data plus the line of every key.

The lines are what lets a validation problem say ``agentrt.yaml:12``. YAML gives
exact positions through the node marks of its composer; JSON is read by ``json``
for correctness and by the YAML composer for positions (YAML 1.2 is a superset of
JSON, and PyYAML reads practically all of it); TOML positions are found by a
line scanner that knows table headers and ``key =`` lines, which is good enough
to point at the right place.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

import yaml

from agentrt.config._paths import Key, Loc, is_secret_path

__all__ = ["Duplicate", "Include", "Parsed", "SyntaxProblem", "parse"]

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = f"{_YAML_TAG}merge"
# What plain data is made of; anything else (!!python/object, !!set...) is refused, not guessed at.
_PLAIN_TAGS = frozenset(
    f"{_YAML_TAG}{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "binary", "seq", "map")
)
_TEXT_LIKE = frozenset(f"{_YAML_TAG}{name}" for name in ("int", "float", "bool", "timestamp"))
INCLUDE_TAG = "!include"


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """A private subclass so that nothing registered on the shared SafeLoader leaks in or out."""


@dataclass(frozen=True, slots=True)
class Include:
    """A ``!include name`` tag, replaced by the named file's content once that file is read."""

    name: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A key given twice in the same mapping; the last one wins, which is rarely what was meant."""

    loc: Loc
    line: int
    first_line: int


class SyntaxProblem(Exception):
    """The text is not valid in its format. ``line`` is 1-based, None when unknown."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(slots=True)
class Parsed:
    """Plain data (dicts, lists, scalars, ``Include``), the line of each path, and duplicate keys."""

    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)


def parse(text: str, suffix: str) -> Parsed:
    """Parse ``text`` as the format its file suffix names. Raises ``SyntaxProblem``."""
    suffix = suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(text)
    if suffix == ".json":
        return _parse_json(text)
    if suffix == ".toml":
        return _parse_toml(text)
    raise SyntaxProblem(
        f"unsupported config format {suffix or '(no suffix)'!r}: use .yaml, .yml, .json or .toml", None
    )


# --- YAML ------------------------------------------------------------------------


# A ${VAR} that is a whole value inside {...} or [...]: unquoted it is a YAML syntax error.
_FLOW_REFERENCE = re.compile(
    r"((?:^|[{\[,])\s*(?:[^\s{}\[\],:'\"#][^{}\[\],:#]*:\s+)?)"  # after {, [ or , and maybe `key: `
    r"(\$\{[A-Za-z_]\w*(?::-[^}'\n]*)?\})"  # a whole ${NAME} or ${NAME:-default}
    r"(?=\s*(?:[,}\]]|#|$))"  # then the end of the value
)


def _parse_yaml(text: str) -> Parsed:
    try:
        return _compose(text)
    except SyntaxProblem as exc:
        if "${" not in text:
            raise
        error = exc
    # `{kind: anthropic, api_key: ${KEY}}` reads naturally but is not YAML: `{` opens a
    # mapping. Rather than make every user quote it, quote the references on the line the
    # parser stopped at and try again; quoting adds no newline, so lines stay right. Only
    # the failing lines are touched, so a valid file is never rewritten.
    lines = text.split("\n")
    for _ in range(len(lines)):
        if error.line is None or error.line > len(lines):
            break
        fixed = _FLOW_REFERENCE.sub(lambda m: f"{m.group(1)}'{m.group(2)}'", lines[error.line - 1])
        if fixed == lines[error.line - 1]:
            break
        lines[error.line - 1] = fixed
        try:
            return _compose("\n".join(lines))
        except SyntaxProblem as again:
            error = again
    # Lines did not move, so the last error is a real one at the right line.
    raise error


def _compose(text: str) -> Parsed:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Parsed(None)
        builder = _Builder(loader)
        return Parsed(builder.build(node, ()), builder.lines, builder.duplicates)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "syntax error"
        context = f" {exc.context}" if exc.context else ""
        # Built from the parts, not str(exc): that would quote the offending line, secrets included.
        raise SyntaxProblem(f"invalid YAML: {what}{context}", mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SyntaxProblem(f"invalid YAML: character #x{exc.character:04x} {exc.reason}", line) from None
    except yaml.YAMLError as exc:
        raise SyntaxProblem(f"invalid YAML: {type(exc).__name__}", None) from None
    finally:
        loader.dispose()


class _Builder:
    """Turns a composed node tree into plain data, recording the line of every key and item."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[Duplicate] = []
        self._open: set[int] = set()

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        if id(node) in self._open:
            raise _marked(
                "an alias refers to a node that contains it: YAML configs cannot be recursive", node
            )
        if node.tag == INCLUDE_TAG:
            if isinstance(node, yaml.ScalarNode):
                return Include(str(node.value))
            raise _marked("!include takes a file name, e.g. `models: !include models.yaml`", node)
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace(_YAML_TAG, "!!")
            raise _marked(f"unknown tag {tag}: the only tag agentrt reads is !include", node)
        if isinstance(node, yaml.ScalarNode):
            if node.tag in _TEXT_LIKE and is_secret_path(loc):
                # A secret is text as written: `api_key: 0x1f` must not become 31.
                return str(node.value)
            return self.loader.construct_object(node, deep=True)
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, loc)
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
        finally:
            self._open.discard(id(node))
        raise _marked("unexpected YAML node", node)  # pragma: no cover - composer only makes these three

    def _sequence(self, node: yaml.SequenceNode, loc: Loc) -> list[Any]:
        out: list[Any] = []
        for index, item in enumerate(node.value):
            self.lines[(*loc, index)] = item.start_mark.line + 1
            out.append(self.build(item, (*loc, index)))
        return out

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        first: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                text, line = str(key_node.value), key_node.start_mark.line + 1
                if text in first:
                    self.duplicates.append(Duplicate((*loc, text), line, first[text]))
                else:
                    first[text] = line
        # Merge keys (<<: *defaults) are YAML's own inheritance; let the constructor expand them.
        self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _marked("a key must be a plain name, not a list or a mapping", key_node)
            # Keys are names: keep their text, so `no:` or `1:` stay "no" and "1" rather than False and 1.
            key = str(key_node.value)
            self.lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, (*loc, key))
        return out


def _marked(message: str, node: yaml.Node) -> yaml.MarkedYAMLError:
    return yaml.MarkedYAMLError(problem=message, problem_mark=node.start_mark)


# --- JSON ------------------------------------------------------------------------


def _parse_json(text: str) -> Parsed:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SyntaxProblem(f"invalid JSON: {exc.msg}", exc.lineno) from None
    try:
        lines = _parse_yaml(text).lines
    except SyntaxProblem:
        lines = {}  # positions are a convenience; the data came from a real JSON parser
    return Parsed(data, lines)


# --- TOML ------------------------------------------------------------------------

_TOML_AT = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")
_TOML_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_TOML_KEY = rf"{_TOML_KEY_PART}(?:\s*\.\s*{_TOML_KEY_PART})*"
_TOML_ARRAY_TABLE = re.compile(rf"^\[\[\s*({_TOML_KEY})\s*\]\]")
_TOML_TABLE = re.compile(rf"^\[\s*({_TOML_KEY})\s*\]")
_TOML_ASSIGN = re.compile(rf"^({_TOML_KEY})\s*=")


def _parse_toml(text: str) -> Parsed:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        line = int(at.group(1)) if at else None
        raise SyntaxProblem(f"invalid TOML: {_TOML_AT.sub('', message)}", line) from None
    return Parsed(data, _toml_lines(text))


def _toml_key(text: str) -> tuple[str, ...]:
    parts = re.findall(_TOML_KEY_PART, text)
    return tuple(part[1:-1] if part[:1] in "\"'" else part for part in parts)


def _toml_lines(text: str) -> dict[Loc, int]:
    """Best effort: the line of each table header and ``key =``; inline tables count as their key's line."""
    lines: dict[Loc, int] = {}
    arrays: dict[tuple[str, ...], int] = {}
    table: Loc = ()
    in_multiline: str | None = None

    def located(key: tuple[str, ...]) -> Loc:
        # [a.b] after [[a]] lives inside the last element of the array a.
        out: list[Key] = []
        for index, part in enumerate(key):
            out.append(part)
            if key[: index + 1] in arrays and index + 1 < len(key):
                out.append(arrays[key[: index + 1]])
        return tuple(out)

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if in_multiline is not None:
            if in_multiline in line:
                in_multiline = None
            continue
        if not line or line.startswith("#"):
            continue
        if match := _TOML_ARRAY_TABLE.match(line):
            key = _toml_key(match.group(1))
            arrays[key] = arrays.get(key, -1) + 1
            for inner in [inner for inner in arrays if len(inner) > len(key) and inner[: len(key)] == key]:
                del arrays[inner]  # a new element starts its nested arrays afresh
            table = (*located(key), arrays[key])
            lines.setdefault(located(key), number)
            lines[table] = number
        elif match := _TOML_TABLE.match(line):
            table = located(_toml_key(match.group(1)))
            lines[table] = number
        elif match := _TOML_ASSIGN.match(line):
            lines[(*table, *_toml_key(match.group(1)))] = number
            rest = line[match.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_multiline = quote
    return lines
