"""Status and body to error: the retry hints, context-length words and secret blanking of each provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from agentrt.errors import ContextLengthExceeded, ProviderBadRequest, ProviderRateLimited, ProviderTimeout
from agentrt.providers._anthropic_wire import read_anthropic_error
from agentrt.providers._errors import Redactor, error_for_status, parse_duration_hint, parse_retry_after
from agentrt.providers._google_wire import read_google_error
from agentrt.providers.openai import read_openai_error


def error(status: int, body: object, reader, headers: dict[str, str] | None = None, secrets=()):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return error_for_status(
        status, headers or {}, raw, provider="p", model="m", reader=reader, redact=Redactor(secrets)
    )


def test_retry_after_in_seconds_and_as_an_http_date() -> None:
    assert parse_retry_after("30") == 30
    assert parse_retry_after(" 1.5 ") == 1.5
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 90
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("37s", 37), ("58.934310785s", 58.934310785), ("500ms", 0.5), ("6m0s", 360), ("1h2m", 3720), ("in 2m", 120)],
)
def test_duration_hints(text: str, seconds: float) -> None:
    assert parse_duration_hint(text) == pytest.approx(seconds)


def test_no_duration_hint() -> None:
    assert parse_duration_hint("later, maybe") is None


def test_retry_after_ms_header_and_openai_message_hint() -> None:
    body = {"error": {"message": "Rate limit reached. Please try again in 20s.", "code": "rate_limit_exceeded"}}
    assert error(429, body, read_openai_error, {"retry-after-ms": "250"}).retry_after == 0.25
    assert error(429, body, read_openai_error).retry_after == 20
    assert error(429, body, read_openai_error, {"Retry-After": "3"}).retry_after == 3  # the header wins


def test_google_retry_info_detail() -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}
    body = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [retry_info]}}
    err = error(429, body, read_google_error)
    assert isinstance(err, ProviderRateLimited)
    assert err.retry_after == 12


OPENAI_CONTEXT = "This model's maximum context length is 8192 tokens"
ANTHROPIC_CONTEXT = "prompt is too long: 210000 tokens > 200000 maximum"
GOOGLE_CONTEXT = "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576)."


@pytest.mark.parametrize(
    ("body", "reader"),
    [
        ({"error": {"message": OPENAI_CONTEXT, "code": None}}, read_openai_error),
        (
            {"type": "error", "error": {"type": "invalid_request_error", "message": ANTHROPIC_CONTEXT}},
            read_anthropic_error,
        ),
        ({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": GOOGLE_CONTEXT}}, read_google_error),
    ],
)
def test_context_length_wording_of_each_provider(body: object, reader) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(error(400, body, reader), ContextLengthExceeded)


def test_an_ordinary_400_is_not_a_context_error() -> None:
    err = error(400, {"error": {"message": "temperature must be ≤ 2", "code": "invalid_value"}}, read_openai_error)
    assert type(err) is ProviderBadRequest


def test_408_is_a_timeout() -> None:
    assert isinstance(error(408, b"", read_openai_error), ProviderTimeout)


def test_a_body_in_no_known_shape_is_quoted_and_an_empty_one_is_described() -> None:
    assert "upstream connect error" in str(error(503, b"upstream connect error", read_google_error))
    assert "HTTP 500 with no error message" in str(error(500, b"", read_anthropic_error))


def test_secrets_are_blanked_longest_first_and_short_values_ignored() -> None:
    redact = Redactor(["sk-abcdef123456", "sk-abcdef", "1"])
    assert redact("keys sk-abcdef123456 and sk-abcdef, 1 of them") == "keys *** and ***, 1 of them"
