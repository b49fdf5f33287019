"""Redaction: no secret reaches a log sink.

``RedactSecrets`` is a structlog processor that the pipeline installs first,
right after the context merge, so every sink (and every renderer) only ever
sees redacted values. It replaces with ``[REDACTED]``:

(a) every configured secret value, wherever it occurs inside any string;
(b) the whole value of a key that names a secret (``api_key``, ``authorization``,
    ``password``, ``secret``, ``token``, ``x-api-key`` and the configured extra
    names), case-insensitively, ``-`` and ``_`` alike, also as a suffix
    (``openai_api_key``, ``access_token``), at any depth (``headers={...}``);
(c) text that looks like a credential: ``sk-...`` / ``sk-ant-...`` keys, Google
    ``AIza...`` keys, GitHub and AWS key ids, ``Bearer <token>``, and
    ``Authorization: ...`` / ``api_key=...`` style pairs inside free text.

Exceptions (``exc_info``) and stacks (``stack_info``) are rendered to text here,
before redaction, because a rendered traceback is where a header dump or a
failing URL most often leaks a key.

Cost on an event without secrets: one dict lookup per key (cached key
verdicts) and, per string value, a set lookup (strings already known clean:
event names, model names...) or a few substring tests (``"sk-" in s``...) that
every pattern needs to match; the full regex (~1 µs) only runs on strings that
pass those tests. Non-strings of the common scalar types are skipped.
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from structlog.processors import StackInfoRenderer, format_exc_info
from structlog.typing import EventDict, WrappedLogger

__all__ = ["DEFAULT_SECRET_KEYS", "MIN_SECRET_LENGTH", "REDACTED", "RedactSecrets"]

REDACTED: Final = "[REDACTED]"
DEFAULT_SECRET_KEYS: Final = ("api_key", "authorization", "password", "secret", "token", "x-api-key")
MIN_SECRET_LENGTH: Final = 4
"""Configured secrets shorter than this are ignored: replacing every ``"abc"``
in every line would garble the logs and protects nothing worth protecting."""

_MAX_DEPTH: Final = 8
_KEY_CACHE_LIMIT: Final = 4096
_CLEAN_CACHE_LIMIT: Final = 8192
_CLEAN_CACHE_MAX_LEN: Final = 256

# Types that cannot carry a secret and that the renderers handle natively.
_SAFE_TYPES: Final = frozenset(
    {int, float, bool, type(None), _dt.datetime, _dt.date, _dt.time, _dt.timedelta, uuid.UUID}
)

# Credential shapes inside free text. Each alternative is a named group so the
# replacement knows what to keep (the header name, the word "Bearer").
# An Authorization header's value runs to the end of the line or quote: schemes
# such as Digest or AWS4-HMAC-SHA256 carry several comma-separated parts.
_AUTH: Final = r"""(?P<auth>\b(?i:proxy-authorization|authorization)\b["']?\s*[:=]\s*["']?)[^"'\r\n]+"""
_PAIR_NAMES: Final = r"x-api-key|api[-_]?key|access[-_]token|password|passwd|secret|token"
_PAIR_VALUE: Final = r"""(?:(?i:bearer|basic|token)\s+[^\s"',;)}\]]+|[^\s"',;)}\]]+)"""
_PATTERNS: Final = (
    r"(?P<bearer>\b(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}",
    r"\bsk-[A-Za-z0-9_-]{16,}",  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)
    r"\bAIza[0-9A-Za-z_-]{30,}",  # Google API keys
    r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key ids
)
# Substrings without which none of the patterns above can match: a string
# containing none of them (nor a configured secret) skips the regex.
_TRIGGERS_EXACT: Final = ("sk-", "AIza", "AKIA")
_TRIGGERS_FOLDED: Final = ("bearer", "authoriz", "key", "token", "secret", "passw")

_stack_renderer = StackInfoRenderer()


def _normalise_key(key: str) -> str:
    return key.strip().lower().replace("-", "_")


class _Rules:
    """One immutable set of redaction rules; swapped as a whole on reconfigure."""

    __slots__ = ("clean", "exact", "folded", "key_cache", "keys", "regex", "suffixes")

    def __init__(self, secrets: Iterable[str], keys: Iterable[str]) -> None:
        self.keys = frozenset(_normalise_key(k) for k in (*DEFAULT_SECRET_KEYS, *keys) if k.strip())
        self.suffixes = tuple("_" + k for k in self.keys)
        # Keys repeat from event to event, so the verdict per key name is cached.
        self.key_cache: dict[str, bool] = {}

        literals = sorted(
            {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )
        extra_names = "|".join(re.escape(k) for k in keys if k.strip())
        names = f"{_PAIR_NAMES}|{extra_names}" if extra_names else _PAIR_NAMES
        # Longest secrets first, so a secret containing another is removed whole.
        parts = [f"(?P<secret>{'|'.join(map(re.escape, literals))})"] if literals else []
        parts.append(_AUTH)
        parts.append(rf"""(?P<pair>\b(?i:{names})\b["']?\s*[:=]\s*["']?){_PAIR_VALUE}""")
        parts.extend(_PATTERNS)
        self.regex = re.compile("|".join(parts))
        self.exact = (*literals, *_TRIGGERS_EXACT)
        self.folded = tuple({*_TRIGGERS_FOLDED, *(k.strip().lower() for k in keys if k.strip())})
        # Strings seen before and found clean; cleared when full, so unique
        # strings (request ids) cannot grow it without bound.
        self.clean: set[str] = set()

    def scrub(self, text: str) -> str:
        """``text`` with secrets replaced; the same object when there was nothing to replace."""
        if text in self.clean:
            return text
        if self._may_match(text):
            new = self.regex.sub(_replace, text)
            if new is not text:
                return new
        if len(text) <= _CLEAN_CACHE_MAX_LEN:
            if len(self.clean) >= _CLEAN_CACHE_LIMIT:
                self.clean.clear()
            self.clean.add(text)
        return text

    def _may_match(self, text: str) -> bool:
        for trigger in self.exact:
            if trigger in text:
                return True
        folded = text.lower()
        for trigger in self.folded:  # noqa: SIM110 - a loop measured faster than any()
            if trigger in folded:
                return True
        return False

    def is_secret_key(self, key: str) -> bool:
        verdict = self.key_cache.get(key)
        if verdict is None:
            norm = _normalise_key(key)
            verdict = norm in self.keys or norm.endswith(self.suffixes)
            if len(self.key_cache) < _KEY_CACHE_LIMIT:
                self.key_cache[key] = verdict
        return verdict


def _replace(match: re.Match[str]) -> str:
    auth = match.group("auth")
    if auth is not None:
        return auth + REDACTED
    pair = match.group("pair")
    if pair is not None:
        return pair + REDACTED
    bearer = match.group("bearer")
    if bearer is not None:
        return bearer + REDACTED
    return REDACTED


class RedactSecrets:
    """structlog processor replacing secrets with ``[REDACTED]`` (see the module docstring).

    ``secrets`` are literal values to remove (API keys from the config);
    ``keys`` are extra key names whose values are always redacted. Call
    :meth:`update` to change both atomically; loggers holding this processor
    pick the change up at their next event.

    Never mutates the caller's objects: a nested dict or list that needs a
    change is copied.
    """

    def __init__(self, secrets: Iterable[str] = (), keys: Iterable[str] = ()) -> None:
        self._rules = _Rules(secrets, keys)

    def update(self, secrets: Iterable[str] = (), keys: Iterable[str] = ()) -> None:
        """Replace the rules; in-flight events finish with the rules they started with."""
        self._rules = _Rules(secrets, keys)

    def redact_text(self, text: str) -> str:
        """``text`` with secret values and credential-looking substrings replaced."""
        return self._rules.scrub(text)

    def redact_value(self, value: Any) -> Any:
        """``value`` redacted recursively: strings, mappings, sequences, exceptions, any object's str."""
        return _redact(value, self._rules, 0)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if "exc_info" in event_dict:
            event_dict = format_exc_info(logger, method_name, event_dict)
        if "stack_info" in event_dict:
            event_dict = _stack_renderer(logger, method_name, event_dict)
        rules = self._rules
        # This loop runs for every event: the cache lookups are inlined
        # rather than calling is_secret_key()/scrub() for the common case.
        key_cache = rules.key_cache
        clean = rules.clean
        changes: list[tuple[str, Any]] | None = None
        for key, value in event_dict.items():
            secret_key = key_cache.get(key)
            if secret_key is None:
                secret_key = isinstance(key, str) and rules.is_secret_key(key)
            if secret_key:
                new: Any = REDACTED
            else:
                kind = type(value)
                if kind is str:
                    if value in clean:
                        continue
                    new = rules.scrub(value)
                elif kind in _SAFE_TYPES:
                    continue
                else:
                    new = _redact(value, rules, 0)
            if new is not value:
                if changes is None:
                    changes = []
                changes.append((key, new))
        if changes:
            for key, new in changes:
                event_dict[key] = new
        return event_dict


def _redact(value: Any, rules: _Rules, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        return rules.scrub(value)
    if kind in _SAFE_TYPES:
        return value
    if depth >= _MAX_DEPTH:
        return rules.scrub(_safe_str(value))
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        changed = False
        for k, v in value.items():
            new = REDACTED if isinstance(k, str) and rules.is_secret_key(k) else _redact(v, rules, depth + 1)
            changed = changed or new is not v
            out[k] = new
        # A non-dict mapping is turned into a dict so renderers see plain data.
        return out if changed or kind is not dict else value
    if kind is list or kind is tuple:
        items = [_redact(v, rules, depth + 1) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if kind is list else tuple(items)
    if isinstance(value, BaseException):
        return rules.scrub(f"{type(value).__name__}: {_safe_str(value)}")
    if isinstance(value, str):  # str subclasses (StrEnum...)
        return rules.scrub(str(value))
    # Anything else is rendered to text here, once, so that no renderer can
    # later call its __str__/__repr__ and print an unredacted secret.
    return rules.scrub(_safe_str(value))


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception as exc:  # a broken __str__ must not break the log call
        return f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
