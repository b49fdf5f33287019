"""Redaction: configured secret values, secret-named keys (nested too), key-shaped strings, and
tracebacks, in what the sinks actually write."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from logsupport import Configure, file_section, read_jsonl

from agentrt.logging import REDACTED, RedactSecrets, get_logger

SECRET = "s3cr3t-value-from-the-config"


def _logged(configure: Configure, tmp_path: Path, *, secrets: list[str] | None = None, **kw: Any) -> Any:
    """Configure a file sink, run ``kw['emit'](log)``, return the records written."""
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path, redact=kw.pop("redact", [])), secrets=secrets or [SECRET])
    kw.pop("emit")(get_logger("agentrt.test"))
    handle.flush()
    return read_jsonl(path)


def test_a_configured_secret_is_removed_inside_longer_strings(configure: Configure, tmp_path: Path) -> None:
    records = _logged(
        configure,
        tmp_path,
        emit=lambda log: log.info(
            f"calling with {SECRET} inline",
            url=f"https://api.example.com/v1?key={SECRET}&x=1",
            nested={"deep": [f"prefix{SECRET}suffix", 42]},
        ),
    )
    record = records[0]
    assert record["event"] == f"calling with {REDACTED} inline"
    assert record["url"] == f"https://api.example.com/v1?key={REDACTED}&x=1"
    assert record["nested"] == {"deep": [f"prefix{REDACTED}suffix", 42]}
    assert SECRET not in str(records)


def test_values_of_secret_named_keys_are_redacted_at_any_depth(configure: Configure, tmp_path: Path) -> None:
    headers = {"Authorization": "Basic dXNlcjpwYXNz", "X-API-Key": "abc", "Content-Type": "application/json"}
    records = _logged(
        configure,
        tmp_path,
        redact=["session_cookie"],
        emit=lambda log: log.info(
            "request",
            api_key="plain-looking",
            PASSWORD=1234,
            openai_api_key="also-secret",
            access_token="tok",
            headers=headers,
            session_cookie="from-config",
            tokens=512,  # not a secret name: a count
        ),
    )
    record = records[0]
    assert record["api_key"] == REDACTED
    assert record["PASSWORD"] == REDACTED, "case-insensitive, and non-strings too"
    assert record["openai_api_key"] == REDACTED
    assert record["access_token"] == REDACTED
    assert record["headers"] == {"Authorization": REDACTED, "X-API-Key": REDACTED, "Content-Type": "application/json"}
    assert record["session_cookie"] == REDACTED
    assert record["tokens"] == 512
    assert headers["Authorization"] == "Basic dXNlcjpwYXNz", "the caller's dict is not modified"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-abcdefghijklmnopqrstuvwx used", f"key {REDACTED} used"),
        ("anthropic sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123", f"anthropic {REDACTED}"),
        ("google AIzaSyA1234567890abcdefghijklmnopqrstuv", f"google {REDACTED}"),
        ("header Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", f"header Bearer {REDACTED}"),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: {REDACTED}"),
        (
            "authorization=AWS4-HMAC-SHA256 Credential=x/y, Signature=abc\nnext line",
            f"authorization={REDACTED}\nnext line",
        ),
        ("{'authorization': 'Bearer abcdefghijkl'}", f"{{'authorization': '{REDACTED}'}}"),
        ('{"api_key": "abc123"}', f'{{"api_key": "{REDACTED}"}}'),
        ("password=hunter2 then", f"password={REDACTED} then"),
        ("AKIAABCDEFGHIJKLMNOP is aws", f"{REDACTED} is aws"),
    ],
)
def test_key_shaped_strings_are_redacted(text: str, expected: str) -> None:
    assert RedactSecrets().redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=512 tokens_used=10",
        "task-runner ask-me",
        "the model gpt-4o-mini answered",
        "https://api.openai.com/v1/chat/completions",
        "sk-short",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert RedactSecrets().redact_text(text) == text


def test_authorization_in_an_exception_traceback_is_redacted(configure: Configure, tmp_path: Path) -> None:
    def emit(log: Any) -> None:
        try:
            raise ConnectionError(f"upstream refused Authorization: Bearer abcdefgh12345678 for {SECRET}")
        except ConnectionError:
            log.exception("call_failed")

    record = _logged(configure, tmp_path, emit=emit)[0]
    assert record["level"] == "error"
    assert "Traceback (most recent call last)" in record["exception"]
    # An Authorization value runs to the end of the line: the scheme and all its parts go.
    assert record["exception"].endswith(f"ConnectionError: upstream refused Authorization: {REDACTED}")
    assert "abcdefgh12345678" not in record["exception"]
    assert SECRET not in record["exception"]


def test_stdlib_tracebacks_and_messages_are_redacted(configure: Configure, tmp_path: Path) -> None:
    def emit(log: Any) -> None:
        try:
            raise RuntimeError(f"x-api-key: {SECRET}")
        except RuntimeError:
            logging.getLogger("aiohttp.client").exception("request with sk-ant-abcdefghijklmnopqrstu failed")

    record = _logged(configure, tmp_path, emit=emit)[0]
    assert record["logger"] == "aiohttp.client"
    assert record["event"] == f"request with {REDACTED} failed"
    assert SECRET not in record["exception"]
    assert "x-api-key: [REDACTED]" in record["exception"]


def test_exception_objects_and_other_objects_as_values_are_rendered_then_redacted(
    configure: Configure, tmp_path: Path
) -> None:
    class Client:
        def __repr__(self) -> str:
            return f"Client(key={SECRET})"

        __str__ = __repr__

    record = _logged(
        configure, tmp_path, emit=lambda log: log.warning("failed", error=ValueError(SECRET), client=Client())
    )[0]
    assert record["error"] == f"ValueError: {REDACTED}"
    assert record["client"] == f"Client(key={REDACTED})"


def test_update_replaces_the_rules() -> None:
    redactor = RedactSecrets(secrets=["first-secret"])
    redactor.update(secrets=["second-secret"], keys=["cookie"])

    assert redactor.redact_text("first-secret second-secret") == f"first-secret {REDACTED}"
    assert redactor.redact_value({"cookie": "c", "x": 1}) == {"cookie": REDACTED, "x": 1}


def test_short_secrets_are_ignored() -> None:
    assert RedactSecrets(secrets=["abc", ""]).redact_text("abcdef") == "abcdef"


def test_strings_seen_clean_are_cached_but_still_redacted_when_secrets_change() -> None:
    redactor = RedactSecrets()
    assert redactor.redact_text("value-abcd") == "value-abcd"  # cached as clean
    redactor.update(secrets=["value-abcd"])
    assert redactor.redact_text("value-abcd") == REDACTED


@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40), nested=st.booleans())
def test_a_configured_secret_never_survives(prefix: str, suffix: str, nested: bool) -> None:
    redactor = RedactSecrets(secrets=[SECRET])
    text = f"{prefix}{SECRET}{suffix}"
    event: dict[str, Any] = {"event": "e", "value": {"inner": [text]} if nested else text}

    out = redactor(None, "info", event)
    assert SECRET not in str(out)
