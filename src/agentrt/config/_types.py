"""Value types shared by the configuration sections: durations, byte sizes, scopes.

Durations are stored as float seconds and byte sizes as int bytes, because that is
what the code that uses them wants; the parsers accept what people write in a
config file (``30s``, ``1h30m``, ``10MiB``) and the messages of their errors list
those forms, since the person reading them is editing a file.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

__all__ = [
    "ByteSize",
    "Duration",
    "Level",
    "Scope",
    "Section",
    "format_duration",
    "parse_byte_size",
    "parse_duration",
]


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, values are frozen.

    Numbers are accepted where text is expected because YAML turns ``name: 2024`` or
    ``tenant: 42`` into numbers, and nobody means a number there.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        validate_by_name=True,
        validate_by_alias=True,
    )


# --- durations -----------------------------------------------------------------

_DURATION_UNITS: Final[dict[str, int]] = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DURATION_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|s|m|h|d)?", re.IGNORECASE)
_DURATION_PATTERN = (
    r"^\s*(\d+(\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?"  # a bare number means seconds
    r"(\s*(\d+(\.\d*)?|\.\d+)\s*(ms|s|m|h|d))*\s*$"
)
DURATION_FORMS: Final = "a number of seconds or a string like 500ms, 30s, 1.5s, 5m, 1h, 1h30m or 2d"


def _exact(text: str) -> Fraction:
    number = Decimal(text)
    # A huge exponent would make Fraction build a huge integer: refuse it up front.
    if number and abs(number.adjusted()) > 400:
        raise ValueError(f"number {text!r} is out of range")
    return Fraction(number)


def parse_duration(value: str | float) -> float:
    """Parse a duration into float seconds.

    Accepts non-negative numbers (seconds) and strings made of one or more
    ``<number><unit>`` parts, units ``ms``, ``s``, ``m``, ``h``, ``d`` (``1h30m``);
    a bare number string means seconds. Raises ``ValueError`` naming the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got a boolean: use {DURATION_FORMS}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"a duration must be a finite number ≥ 0: use {DURATION_FORMS}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration: use {DURATION_FORMS}")
    text = value.strip()
    if not text:
        raise ValueError(f"empty duration: use {DURATION_FORMS}")
    # Sum exactly, then round once: this is what lets format_duration round-trip.
    total_ms = Fraction(0)
    pos = 0
    parts = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"invalid duration {value!r}: use {DURATION_FORMS}")
        number, unit = match.group(1), match.group(2)
        if unit is None and parts == 0 and match.end() == len(text.rstrip()):
            unit = "s"
        if unit is None:
            raise ValueError(f"invalid duration {value!r}: every number needs a unit; use {DURATION_FORMS}")
        total_ms += _exact(number) * _DURATION_UNITS[unit.lower()]
        parts += 1
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    try:
        return float(total_ms / 1000)
    except OverflowError:
        raise ValueError(f"duration {value!r} is too large") from None


def format_duration(seconds: float) -> str:
    """Render seconds compactly (``30s``, ``5m``, ``1h30m``, ``200ms``, ``1.5s``).

    ``parse_duration(format_duration(x)) == x`` for every finite ``x ≥ 0``.
    """
    seconds = float(seconds)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be a finite number ≥ 0")
    if seconds == 0:
        return "0s"
    if seconds.is_integer():
        rest = int(seconds)
        out = []
        for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
            count, rest = divmod(rest, size)
            if count:
                out.append(f"{count}{unit}")
        return "".join(out)
    if seconds < 1:
        ms = _plain(seconds * 1000)
        if float(_exact(ms) / 1000) == seconds:
            return f"{ms}ms"
    return f"{_plain(seconds)}s"


def _plain(number: float) -> str:
    text = repr(number)
    return text[:-2] if text.endswith(".0") else text


def _duration_input(value: Any) -> float:
    return parse_duration(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration_input),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {
                    "type": "string",
                    "pattern": _DURATION_PATTERN,
                },
            ],
            "description": f"Duration: {DURATION_FORMS}.",
        },
        mode="validation",
    ),
    WithJsonSchema({"type": "string"}, mode="serialization"),
]
"""Float seconds; accepts numbers and strings such as ``500ms``, ``30s``, ``1h30m``; dumps as ``30s``."""


# --- byte sizes ----------------------------------------------------------------

_BYTE_UNITS: Final[dict[str, int]] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_BYTE_SIZE = re.compile(rf"^\s*({_NUMBER})\s*([a-z]*)\s*$", re.IGNORECASE)
BYTE_SIZE_FORMS: Final = (
    "a whole number of bytes or a string like 512, 10KB, 10MB, 1GB (1000-based) or 10KiB, 10MiB (1024-based)"
)


def parse_byte_size(value: str | int | float) -> int:
    """Parse a size into int bytes: ``512``, ``10KB``/``10MB``/``1GB`` (SI) or ``10KiB``/``10MiB`` (binary).

    Units are case-insensitive. Raises ``ValueError`` naming the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got a boolean: use {BYTE_SIZE_FORMS}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"a size must be a whole number of bytes: use {BYTE_SIZE_FORMS}")
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size must be ≥ 0: use {BYTE_SIZE_FORMS}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a size: use {BYTE_SIZE_FORMS}")
    match = _BYTE_SIZE.match(value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _BYTE_UNITS:
        raise ValueError(f"invalid size {value!r}: use {BYTE_SIZE_FORMS}")
    size = _exact(match.group(1)) * _BYTE_UNITS[unit]
    if size.denominator != 1:
        raise ValueError(f"size {value!r} is not a whole number of bytes")
    return int(size)


def _byte_size_input(value: Any) -> int:
    return parse_byte_size(value)


ByteSize = Annotated[
    int,
    BeforeValidator(_byte_size_input),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*(\d+(\.\d*)?|\.\d+)\s*([kKmMgGtT][iI]?)?[bB]?\s*$"},
            ],
            "description": f"Size: {BYTE_SIZE_FORMS}.",
        },
        mode="validation",
    ),
]
"""Int bytes; accepts ints and strings such as ``10MB`` or ``10MiB``; dumps as an int."""


# --- levels and scopes -----------------------------------------------------------


_LEVEL_ALIASES: Final = {"warn": "warning", "fatal": "critical", "exception": "error"}


def _lower_level(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().lower()
        return _LEVEL_ALIASES.get(value, value)
    return value


Level = Annotated[
    Literal["debug", "info", "warning", "error", "critical"],
    BeforeValidator(_lower_level),
]
"""A log level; case-insensitive, with the stdlib's aliases (``warn``, ``fatal``, ``exception``)."""

SCOPE_DIMENSIONS: Final = ("tenant", "user", "api_key", "model", "provider", "tool")
_SCOPE_PATTERN = r"^(global|(tenant|user|api_key|model|provider|tool)(\+(tenant|user|api_key|model|provider|tool))*)$"
SCOPE_FORMS: Final = (
    "global, tenant, user, api_key, model, provider, tool (limits and budgets with tools:), "
    "or several joined with + (tenant+model)"
)


def parse_scope(value: Any) -> str:
    """Validate a policy scope: ``global`` or dimensions joined with ``+``, each at most once."""
    if not isinstance(value, str):
        raise ValueError(f"expected a scope: use {SCOPE_FORMS}")
    parts = [part.strip().lower() for part in value.split("+")]
    if parts == ["global"]:
        return "global"
    unknown = [part for part in parts if part not in SCOPE_DIMENSIONS]
    if unknown:
        if "global" in parts:
            raise ValueError("global cannot be combined with other scopes: use global alone")
        raise ValueError(f"unknown scope {unknown[0]!r}: use {SCOPE_FORMS}")
    if len(set(parts)) != len(parts):
        raise ValueError(f"scope {value!r} repeats a dimension: name each at most once")
    return "+".join(parts)


Scope = Annotated[
    str,
    BeforeValidator(parse_scope),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _SCOPE_PATTERN,
            "description": f"Scope: {SCOPE_FORMS}.",
        },
        mode="validation",
    ),
]
"""What a limit or budget counts per: ``global``, ``tenant``, ``user+model``, ..."""
