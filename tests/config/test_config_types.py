"""Durations, byte sizes, levels and scopes: the value parsers of the schema."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from agentrt.config import ByteSize, Duration, Level, Scope, format_duration, parse_byte_size, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("2d", 172800.0),
        ("30", 30.0),
        ("0.25", 0.25),
        ("  10S ", 10.0),
        ("0s", 0.0),
        (".5s", 0.5),
        (45, 45.0),
        (0.2, 0.2),
    ],
)
def test_parse_duration_accepts_numbers_and_units(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad", ["", "soon", "5 minutes", "1h30", "-5s", "30x", "s", True, -1, math.inf, "1e999999s"]
)
def test_parse_duration_rejects_with_the_accepted_forms(bad: object) -> None:
    with pytest.raises(ValueError, match=r"500ms|≥ 0|out of range|too large"):
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30.0, "30s"),
        (300.0, "5m"),
        (0.2, "200ms"),
        (5400.0, "1h30m"),
        (1.5, "1.5s"),
        (0.0, "0s"),
        (86400.0, "1d"),
        (90.5, "90.5s"),
    ],
)
def test_format_duration_is_compact(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_format_then_parse_round_trips_every_duration(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**9))
def test_whole_milliseconds_format_without_fractions(ms: int) -> None:
    text = format_duration(ms / 1000)
    assert "e" not in text
    assert parse_duration(text) == ms / 1000


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512", 512),
        (512, 512),
        ("10KB", 10_000),
        ("10kb", 10_000),
        ("10MB", 10_000_000),
        ("1GB", 1_000_000_000),
        ("10KiB", 10_240),
        ("10mib", 10 * 1024 * 1024),
        ("1.5KiB", 1536),
        ("4 MB", 4_000_000),
        ("100B", 100),
    ],
)
def test_parse_byte_size(text: str | int, size: int) -> None:
    assert parse_byte_size(text) == size


@pytest.mark.parametrize("bad", ["10 parsecs", "", "1.3B", "-1", -5, True, "MB", 1.5])
def test_parse_byte_size_rejects_with_the_accepted_forms(bad: object) -> None:
    with pytest.raises(ValueError, match=r"10MiB|whole number|≥ 0"):
        parse_byte_size(bad)  # type: ignore[arg-type]


class _Values(BaseModel):
    duration: Duration = 1.0
    size: ByteSize = 1
    level: Level = "info"
    scope: Scope = "global"


def test_the_annotated_types_validate_and_serialise() -> None:
    values = _Values.model_validate(
        {"duration": "1h30m", "size": "10MiB", "level": "WARN", "scope": "Tenant+Model"}
    )
    assert values.duration == 5400.0
    assert values.size == 10 * 1024 * 1024
    assert values.level == "warning"
    assert values.scope == "tenant+model"
    assert values.model_dump() == {
        "duration": "1h30m",
        "size": 10485760,
        "level": "warning",
        "scope": "tenant+model",
    }
    assert _Values.model_validate(values.model_dump()) == values


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("tenants", "unknown scope 'tenants'"),
        ("global+user", "global cannot be combined"),
        ("user+user", "repeats"),
    ],
)
def test_bad_scopes_say_what_is_accepted(scope: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _Values(scope=scope)


def test_the_json_schema_of_durations_and_sizes_accepts_strings_and_numbers() -> None:
    schema = _Values.model_json_schema()["properties"]
    assert {alt["type"] for alt in schema["duration"]["anyOf"]} == {"number", "string"}
    assert {alt["type"] for alt in schema["size"]["anyOf"]} == {"integer", "string"}
