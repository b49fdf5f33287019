"""logfmt: ``key=value`` pairs on one line, the console format people grep.

Values are written bare when that is unambiguous and quoted otherwise, with the
escapes of Go's ``strconv.Quote`` (which go-logfmt, Loki and Grafana parse):
``"`` and ``\\`` are backslash-escaped, newlines and other control characters
become ``\\n``, ``\\t``, ``\\u00XX``. An event therefore always stays on one
line, including a multi-line traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = ["LogfmtRenderer", "format_key", "format_value"]

# Characters a key may not contain (they would make the line ambiguous to a
# parser); they become "_".
_BAD_KEY: Final = re.compile(r'[\s="\\\x00-\x1f\x7f]')

# Control characters, and the Unicode line separators that str.splitlines()
# and some viewers break lines on, are written as \u escapes.
_ESCAPES: Final[dict[int, str]] = {c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)}
_ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def _quote_str(text: str) -> str:
    # A bare value may not be empty nor contain whitespace, '=', '"', '\' or
    # control characters. isprintable() is False for every control character
    # and every space but ' ', which leaves four characters to test for:
    # C-speed checks that measured several times faster than a regex.
    if text and text.isprintable() and " " not in text and "=" not in text and '"' not in text and "\\" not in text:
        return text
    return '"' + text.translate(_ESCAPES) + '"'


def format_value(value: Any) -> str:
    """One value as logfmt: bare when unambiguous, else quoted and escaped.

    ``None`` is ``null``, booleans are ``true``/``false``, containers are
    compact JSON (then quoted), anything else is ``str(value)``.
    """
    kind = type(value)
    if kind is str:
        return _quote_str(value)
    if kind is int:
        return repr(value)
    if kind is float:
        return _float(value)
    if isinstance(value, str):
        return _quote_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, Mapping | list | tuple):
        try:
            text = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = str(value)
        return _quote_str(text)
    return _quote_str(str(value))


def _float(value: float) -> str:
    text = repr(value)
    # Durations and costs are small: 0.00004 reads better than 4e-05 in a log line.
    if "e-" in text and abs(value) >= 1e-9:
        return f"{value:.12f}".rstrip("0")
    return text


_key_cache: dict[str, str] = {}


def format_key(key: Any) -> str:
    """A key as logfmt: characters that would break parsing become ``_``."""
    text = key if isinstance(key, str) else str(key)
    cached = _key_cache.get(text)
    if cached is not None:
        return cached
    safe = _BAD_KEY.sub("_", text) if text else "_"
    if len(_key_cache) < 4096:  # keys repeat; a bound keeps odd dynamic keys from growing it
        _key_cache[text] = safe
    return safe


class LogfmtRenderer:
    """structlog processor: render the event dict as one logfmt line, keys in insertion order.

    The agentrt pipeline puts ``ts level logger event`` first, so lines read
    ``ts=... level=info logger=agentrt.runtime event=started key=value``.
    """

    def __call__(self, logger: Any, method_name: str, event_dict: Mapping[str, Any]) -> str:
        return " ".join([format_key(k) + "=" + format_value(v) for k, v in event_dict.items()])
