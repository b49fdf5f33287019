"""Turning a provider's failure into the matching class of :mod:`agentrt.errors`.

Every provider says "what went wrong" in its own error body; each client
supplies an :data:`ErrorReader` that extracts an :class:`ErrorInfo` from it,
and :func:`error_for_status` does the rest the same way for all of them:

=======================================  =============================
status / body                            error
=======================================  =============================
body says the quota or credit is used up ProviderQuotaExceeded (not retried)
429                                      ProviderRateLimited (retry_after)
401, 403; a body that says the key is    ProviderAuthError
bad (Gemini's 400 API_KEY_INVALID)
400 whose body says the context is full  ContextLengthExceeded
408                                      ProviderTimeout
other 4xx                                ProviderBadRequest
5xx, 529 (Anthropic's "overloaded")      ProviderUnavailable
=======================================  =============================

``retry_after`` comes from the ``Retry-After`` header (seconds or an HTTP
date), else ``retry-after-ms``, else the provider's own hint in the body
(Gemini's ``RetryInfo.retryDelay``, OpenAI's "try again in 20s").

Messages carry the provider name, the model, the status and the provider's own
message, never a request header; every configured secret is blanked out of the
provider's message too, because some providers quote (part of) the key back.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from agentrt.errors import (
    ContextLengthExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

__all__ = [
    "ErrorInfo",
    "ErrorReader",
    "Redactor",
    "error_for_status",
    "malformed",
    "parse_duration_hint",
    "parse_retry_after",
    "stream_ended_early",
]

_MAX_MESSAGE = 500  # a provider's message is quoted, not pasted whole (HTML error pages exist)


@dataclass(slots=True, frozen=True)
class ErrorInfo:
    """What a provider's error body says: its message and code, and what they imply.

    ``context_length``: the input does not fit the context window; ``quota_exhausted``: the
    account's quota or credit is used up (billing, not a rate); ``bad_key``: the credentials are
    invalid although the status is not 401 (Gemini answers 400 ``API_KEY_INVALID``).
    """

    message: str
    code: str | None = None
    context_length: bool = False
    retry_after: float | None = None
    quota_exhausted: bool = False
    bad_key: bool = False


ErrorReader = Callable[[Any], ErrorInfo | None]
"""Reads a decoded error body; None when the body is not in the provider's error shape."""


class Redactor:
    """Blanks every configured secret (API key, header values) out of a text."""

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is blanked whole; short values
        # (e.g. a header "1") would blank half of every message and protect nothing.
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    provider: str,
    model: str | None,
    reader: ErrorReader,
    redact: Redactor,
) -> ProviderError:
    """The agentrt error for an HTTP error answer (``headers`` may be any case-insensitive mapping)."""
    info = _read(body, reader)
    message = _shorten(redact(info.message)) if info.message else f"HTTP {status} with no error message"
    where = f"{provider}: model {model!r}" if model else provider
    said = f"(HTTP {status}: {message})"
    if info.quota_exhausted:
        return ProviderQuotaExceeded(
            f"{where}: the account's quota or credit is used up {said}; add credit or raise the plan's "
            "limits with the provider, or fall back to another provider",
            provider=provider,
            model=model,
            status=status,
        )
    if status == 429:
        retry_after = _header_retry_after(headers)
        if retry_after is None:
            retry_after = info.retry_after
        hint = f"retry after {retry_after:g}s" if retry_after is not None else "retry later"
        return ProviderRateLimited(
            f"{where} is rate limited by the provider {said}; {hint}, or lower the request rate or raise the quota",
            provider=provider,
            model=model,
            status=status,
            retry_after=retry_after,
        )
    if status in (401, 403) or info.bad_key:
        return ProviderAuthError(
            f"{where}: the provider refused the credentials {said}; "
            f"check providers.{provider}.api_key and that the key may use this model",
            provider=provider,
            model=model,
            status=status,
        )
    if status == 408:
        return ProviderTimeout(
            f"{where}: the provider timed out the request {said}; retry, or raise the timeout",
            provider=provider,
            model=model,
            status=status,
        )
    if 400 <= status < 500:
        if info.context_length:
            return ContextLengthExceeded(
                f"{where}: the input does not fit the model's context window {said}; "
                "shorten the conversation or use a model with a larger context window",
                provider=provider,
                model=model,
                status=status,
            )
        advice = "check the model name" if status == 404 else "check the request and its parameters"
        return ProviderBadRequest(
            f"{where}: the provider refused the request as invalid {said}; {advice}",
            provider=provider,
            model=model,
            status=status,
        )
    return ProviderUnavailable(
        f"{where}: the provider failed on its side {said}; retry later or fall back to another model",
        provider=provider,
        model=model,
        status=status,
    )


def malformed(provider: str, model: str | None, what: str) -> ProviderUnavailable:
    """A 200 answer that is not what the wire format promises (bad JSON, missing fields)."""
    where = f"{provider}: model {model!r}" if model else provider
    return ProviderUnavailable(
        f"{where}: malformed response from the provider ({what}); retry, and check base_url "
        "points at the right kind of API",
        provider=provider,
        model=model,
        status=200,
    )


def stream_ended_early(provider: str, model: str | None) -> ProviderUnavailable:
    """The body of a stream ended before the provider's end-of-stream marker."""
    where = f"{provider}: model {model!r}" if model else provider
    return ProviderUnavailable(
        f"{where}: the stream ended early, before the provider's end-of-stream marker; retry",
        provider=provider,
        model=model,
        status=200,
    )


def _read(body: bytes, reader: ErrorReader) -> ErrorInfo:
    try:
        decoded = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        decoded = None
    info = reader(decoded) if decoded is not None else None
    if info is not None:
        return info
    text = body.decode("utf-8", "replace").strip()
    return ErrorInfo(message=" ".join(text.split()))


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _header_retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        seconds = parse_retry_after(value)
        if seconds is not None:
            return seconds
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            number = float(millis)
        except ValueError:
            return None
        if math.isfinite(number) and number >= 0:
            return number / 1000.0
    return None


def parse_retry_after(value: str, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` value in seconds: delta-seconds, or an HTTP date (seconds from ``now``)."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


_DURATION = re.compile(r"(?<![\w.])((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)(?!\w)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_hint(text: str) -> float | None:
    """Seconds from the first duration in ``text``: ``"37s"``, ``"1.5s"``, ``"500ms"``, ``"6m0s"``, ``"1h2m"``."""
    match = _DURATION.search(text)
    if match is None:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(match.group(1)))
