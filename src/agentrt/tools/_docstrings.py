"""What a tool's docstring says: the description of the tool, and of each parameter.

Two styles are read, as they are written in the wild:

Google::

    Look up the weather.

    Args:
        city: The city, e.g. "Paris".
        days (int): How many days ahead,
            continued on an indented line.

Sphinx::

    Look up the weather.

    :param city: The city, e.g. "Paris".
    :param int days: How many days ahead.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["ParsedDocstring", "parse_docstring"]

# Google-style section headers; the ones that list parameters come first.
_PARAMETER_SECTIONS = frozenset({"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"})
_OTHER_SECTIONS = frozenset(
    {
        "returns",
        "return",
        "yields",
        "yield",
        "raises",
        "raise",
        "examples",
        "example",
        "note",
        "notes",
        "see also",
        "warning",
        "warnings",
        "attributes",
        "todo",
        "references",
    }
)
_SECTION = re.compile(r"^(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
# "name: text", "name (type): text", "*name: text"; the text may be empty (it follows on the next line).
_GOOGLE_ENTRY = re.compile(r"^\**(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\([^)]*\))?\s*:(?P<text>.*)$")
# ":param name: text" or ":param type name: text" (also :parameter, :arg, :argument, :key, :keyword).
_SPHINX_PARAM = re.compile(
    r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?(?P<name>\**[A-Za-z_][A-Za-z0-9_]*)\s*:(?P<text>.*)$"
)
_SPHINX_FIELD = re.compile(r"^:[A-Za-z][^:]*:")


@dataclass(frozen=True, slots=True)
class ParsedDocstring:
    """``description``: the text before the first section; ``parameters``: name -> description."""

    description: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split ``doc`` into the tool's description and its parameters' descriptions (both styles)."""
    if not doc:
        return ParsedDocstring()
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    parameters: dict[str, str] = {}
    index = 0
    in_prose = True
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        header = _SECTION.match(stripped)
        if header and _indent(line) == 0 and _is_section(header["title"]):
            in_prose = False
            if header["title"].lower() in _PARAMETER_SECTIONS:
                index = _read_google_section(lines, index + 1, parameters)
                continue
            index = _skip_section(lines, index + 1)
            continue
        if _SPHINX_FIELD.match(stripped):
            in_prose = False
            index = _read_sphinx_field(lines, index, parameters)
            continue
        if in_prose:
            description.append(line)
        index += 1
    return ParsedDocstring(_prose(description), parameters)


def _is_section(title: str) -> bool:
    lowered = title.lower()
    return lowered in _PARAMETER_SECTIONS or lowered in _OTHER_SECTIONS


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _read_google_section(lines: list[str], index: int, parameters: dict[str, str]) -> int:
    """Read entries until a line at the header's indentation; return the index after the section."""
    entry_indent: int | None = None
    name: str | None = None
    text: list[str] = []

    def flush() -> None:
        if name is not None:
            parameters[name] = " ".join(part for part in text if part)

    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        indent = _indent(line)
        if indent == 0:
            break
        if entry_indent is None:
            entry_indent = indent
        entry = _GOOGLE_ENTRY.match(line.strip()) if indent <= entry_indent else None
        if entry:
            flush()
            name, text = entry["name"], [entry["text"].strip()]
        elif name is not None:
            text.append(line.strip())  # a continuation line
        index += 1
    flush()
    return index


def _skip_section(lines: list[str], index: int) -> int:
    while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > 0):
        index += 1
    return index


def _read_sphinx_field(lines: list[str], index: int, parameters: dict[str, str]) -> int:
    first = lines[index].strip()
    text = []
    match = _SPHINX_PARAM.match(first)
    if match:
        text.append(match["text"].strip())
    index += 1
    # Continuation lines are indented, or at least not the start of another field.
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped or _SPHINX_FIELD.match(stripped) or _indent(line) == 0:
            break
        text.append(stripped)
        index += 1
    if match:
        parameters[match["name"].lstrip("*")] = " ".join(part for part in text if part)
    return index


def _prose(lines: list[str]) -> str:
    # Line breaks are kept: they may carry a list or an example the model should see as written.
    return "\n".join(lines).strip()
