"""Errors as the real APIs send them, classified: a full context window, a used-up quota, a bad key.

Bodies are the ones OpenAI, Anthropic and Gemini answer (documented shapes and messages), served
byte for byte by the canned server, for plain calls and for streams.
"""

from __future__ import annotations

from typing import Any

import pytest
from providers_support import Canned, canned_client, sse

from agentrt.errors import (
    ContextLengthExceeded,
    ProviderAuthError,
    ProviderQuotaExceeded,
    ProviderRateLimited,
)
from agentrt.types import ChatRequest, Message

OPENAI_CONTEXT = {
    "error": {
        "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
        "200013 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
ANTHROPIC_CONTEXT = {
    "type": "error",
    "error": {"type": "invalid_request_error", "message": "prompt is too long: 208310 tokens > 200000 maximum"},
    "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
}
GEMINI_CONTEXT = {
    "error": {
        "code": 400,
        "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        "status": "INVALID_ARGUMENT",
    }
}
CONTEXT_ERRORS = {"openai": OPENAI_CONTEXT, "anthropic": ANTHROPIC_CONTEXT, "google": GEMINI_CONTEXT}

OPENAI_QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
GEMINI_BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    }
}

REQUEST = ChatRequest(model="m", messages=[Message.user("a very long conversation")])


async def call(kind: str, url: str, *, stream: bool) -> Any:
    client = canned_client(kind, url)
    try:
        if stream:
            return [event async for event in client.stream(REQUEST)]
        return await client.complete(REQUEST)
    finally:
        await client.aclose()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", ["openai", "anthropic", "google"])
async def test_a_full_context_window_is_context_length_exceeded_never_retried(
    canned: tuple[Canned, str], kind: str, stream: bool
) -> None:
    state, url = canned
    state.answer_json(CONTEXT_ERRORS[kind], status=400)
    with pytest.raises(ContextLengthExceeded) as caught:
        await call(kind, url, stream=stream)
    assert caught.value.retryable is False
    assert caught.value.status == 400


@pytest.mark.parametrize("kind", ["openai", "anthropic", "google"])
async def test_a_context_error_in_the_middle_of_a_stream_is_context_length_exceeded(
    canned: tuple[Canned, str], kind: str
) -> None:
    state, url = canned
    # OpenAI-compatible servers and the other APIs report errors met after the 200 as an event.
    body = CONTEXT_ERRORS[kind]
    state.answer_events(sse(body, event_names=["error"]) if kind == "anthropic" else sse(body))
    with pytest.raises(ContextLengthExceeded) as caught:
        await call(kind, url, stream=True)
    assert caught.value.retryable is False


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_openai_insufficient_quota_is_a_billing_error_not_a_rate_limit(
    canned: tuple[Canned, str], stream: bool
) -> None:
    state, url = canned
    state.answer_json(OPENAI_QUOTA, status=429)
    with pytest.raises(ProviderQuotaExceeded) as caught:
        await call("openai", url, stream=stream)
    assert not isinstance(caught.value, ProviderRateLimited)
    assert caught.value.retryable is False
    assert "quota" in str(caught.value)
    assert "credit" in str(caught.value)


async def test_openai_insufficient_quota_inside_a_stream_is_a_billing_error(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_events(sse(OPENAI_QUOTA))
    with pytest.raises(ProviderQuotaExceeded):
        await call("openai", url, stream=True)


async def test_anthropic_low_credit_balance_is_a_billing_error(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_json(
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
                "Billing to upgrade or purchase credits.",
            },
        },
        status=400,
    )
    with pytest.raises(ProviderQuotaExceeded):
        await call("anthropic", url, stream=False)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_gemini_api_key_invalid_is_an_auth_error(canned: tuple[Canned, str], stream: bool) -> None:
    state, url = canned
    state.answer_json(GEMINI_BAD_KEY, status=400)
    with pytest.raises(ProviderAuthError) as caught:
        await call("google", url, stream=stream)
    assert caught.value.retryable is False
    assert "api_key" in str(caught.value)


async def test_an_openai_rate_limit_keeps_the_wait_it_asked_for(canned: tuple[Canned, str]) -> None:
    state, url = canned
    state.answer_json(
        {
            "error": {
                "message": "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): "
                "Limit 3, Used 3, Requested 1. Please try again in 20s.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
        status=429,
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await call("openai", url, stream=False)
    assert caught.value.retry_after == 20
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    "error",
    [
        {  # vLLM
            "object": "error",
            "message": "This model's maximum context length is 2048 tokens. However, you requested 3049 tokens "
            "(2049 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        {  # llama.cpp's server
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
            }
        },
        {  # Mistral
            "object": "error",
            "message": "Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum "
            "context length",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        },
    ],
    ids=["vllm", "llama.cpp", "mistral"],
)
async def test_openai_compatible_servers_context_errors_are_context_length_exceeded(
    canned: tuple[Canned, str], error: dict[str, Any]
) -> None:
    state, url = canned
    state.answer_json(error, status=400)
    with pytest.raises(ContextLengthExceeded):
        await call("openai", url, stream=False)
