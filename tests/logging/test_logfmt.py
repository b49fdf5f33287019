"""The logfmt renderer: bare where unambiguous, quoted and escaped otherwise, and always
parseable back to the same values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrt.logging import LogfmtRenderer
from agentrt.logging._logfmt import format_key, format_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("two words", '"two words"'),
        ("a=b", '"a=b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("line\nbreak", '"line\\nbreak"'),
        ("tab\there", '"tab\\there"'),
        ("bell\x07", '"bell\\u0007"'),
        ("sep\u2028arator", '"sep\\u2028arator"'),
        ("", '""'),
        ("héllo→ü", "héllo→ü"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (0.25, "0.25"),
        ({"a": 1}, '"{\\"a\\":1}"'),
        ([1, 2], "[1,2]"),
    ],
)
def test_format_value(value: object, expected: str) -> None:
    assert format_value(value) == expected


def test_format_key_replaces_what_would_break_parsing() -> None:
    assert format_key("model") == "model"
    assert format_key("two words") == "two_words"
    assert format_key('a="b') == "a__b"
    assert format_key("") == "_"


def test_renderer_keeps_insertion_order() -> None:
    line = LogfmtRenderer()(None, "info", {"ts": "t", "level": "info", "event": "x y", "n": 1})
    assert line == 'ts=t level=info event="x y" n=1'


_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _parse(line: str) -> dict[str, str]:
    """A minimal logfmt parser, as a log shipper would read the line."""
    out: dict[str, str] = {}
    for key, raw in _PAIR.findall(line):
        if raw.startswith('"'):
            body, value, i = raw[1:-1], [], 0
            while i < len(body):
                if body[i] == "\\":
                    code = body[i + 1]
                    if code == "u":
                        value.append(chr(int(body[i + 2 : i + 6], 16)))
                        i += 6
                        continue
                    value.append(_UNESCAPE[code])
                    i += 2
                    continue
                value.append(body[i])
                i += 1
            out[key] = "".join(value)
        else:
            out[key] = raw
    return out


@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_.]{0,8}", fullmatch=True), st.text(max_size=30), max_size=6))
def test_every_line_parses_back_to_the_same_values(values: dict[str, str]) -> None:
    line = LogfmtRenderer()(None, "info", values)

    assert "\n" not in line
    assert len(line.splitlines()) <= 1
    assert _parse(line) == values


@pytest.mark.parametrize(
    ("value", "text"),
    [(4e-05, "0.00004"), (2.5e-07, "0.00000025"), (0.1, "0.1"), (1e-12, "1e-12"), (1e20, "1e+20"), (3.0, "3.0")],
)
def test_small_floats_read_as_decimals(value: float, text: str) -> None:
    assert format_value(value) == text
    assert float(format_value(value)) == value
