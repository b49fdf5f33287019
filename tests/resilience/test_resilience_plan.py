"""The execution plan: candidates in order, fallback on retryable failures, CallFailed when all fail."""

from __future__ import annotations

import pytest
from resilience_fakes import FakeClock, ScriptedCall, make_guard
from structlog.testing import capture_logs

from agentrt.errors import (
    CallFailed,
    CircuitOpen,
    ContextLengthExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderUnavailable,
)
from agentrt.resilience import Candidate, run_plan
from agentrt.types import Attempt


def unavailable(text: str = "503 upstream") -> ProviderUnavailable:
    return ProviderUnavailable(text, status=503)


async def test_the_first_candidate_that_succeeds_wins_and_later_ones_are_not_called() -> None:
    first = ScriptedCall(result="from first")
    second = ScriptedCall(result="from second")
    attempts: list[Attempt] = []

    result = await run_plan(
        [Candidate("a", make_guard("pa"), first), Candidate("b", make_guard("pb"), second)], attempts=attempts
    )

    assert result == ("from first", 0)
    assert (first.calls, second.calls) == (1, 0)
    assert [(a.model, a.provider, a.ok) for a in attempts] == [("a", "pa", True)]


async def test_fallback_goes_in_order_after_each_candidates_retries() -> None:
    first = ScriptedCall([unavailable()] * 2)
    second = ScriptedCall([ProviderRateLimited("429", retry_after=999.0)])
    third = ScriptedCall(result="from third")
    attempts: list[Attempt] = []

    result = await run_plan(
        [
            Candidate("a", make_guard("pa", attempts=2), first),
            Candidate("b", make_guard("pb", attempts=3), second),
            Candidate("c", make_guard("pc"), third),
        ],
        attempts=attempts,
    )

    assert result == ("from third", 2)
    assert (first.calls, second.calls, third.calls) == (2, 1, 1)
    assert [(a.model, a.error_type) for a in attempts] == [
        ("a", "ProviderUnavailable"),
        ("a", "ProviderUnavailable"),
        ("b", "ProviderRateLimited"),
        ("c", None),
    ]


async def test_each_fallback_is_logged_at_warning_with_both_models_and_the_error() -> None:
    with capture_logs() as logs:
        await run_plan(
            [
                Candidate("gpt", make_guard("openai", attempts=1), ScriptedCall([unavailable("503 overloaded")])),
                Candidate("claude", make_guard("anthropic"), ScriptedCall()),
            ],
            attempts=[],
        )

    fallbacks = [entry for entry in logs if entry["event"] == "fallback"]
    assert fallbacks == [
        {
            "event": "fallback",
            "log_level": "warning",
            "from_model": "gpt",
            "from_provider": "openai",
            "to_model": "claude",
            "to_provider": "anthropic",
            "error": "ProviderUnavailable: 503 overloaded",
        }
    ]


@pytest.mark.parametrize("error", [ProviderAuthError("401: check OPENAI_API_KEY"), ProviderBadRequest("400")])
async def test_a_non_retryable_error_is_raised_at_once_without_fallback(error: Exception) -> None:
    second = ScriptedCall()
    with pytest.raises(type(error)) as caught:
        await run_plan(
            [Candidate("a", make_guard(), ScriptedCall([error])), Candidate("b", make_guard(), second)],
            attempts=[],
        )
    assert caught.value is error
    assert second.calls == 0


async def test_context_length_exceeded_moves_on_to_a_model_with_a_larger_window() -> None:
    first = ScriptedCall([ContextLengthExceeded("input is 200k tokens, the window 128k")])
    second = ScriptedCall(result="long context answer")

    result = await run_plan(
        [Candidate("small", make_guard(attempts=3), first), Candidate("large", make_guard(), second)],
        attempts=[],
    )

    assert result == ("long context answer", 1)
    assert first.calls == 1  # not retried: the same model would refuse it again


async def test_a_candidate_whose_breaker_is_open_is_skipped_without_a_call() -> None:
    clock = FakeClock()
    broken = make_guard("pa", attempts=1, failures=1, cooldown=60.0, clock=clock)
    with pytest.raises(ProviderUnavailable):
        await broken.run(ScriptedCall([unavailable()]), model="a", attempts=[])
    first = ScriptedCall()
    attempts: list[Attempt] = []

    result = await run_plan(
        [Candidate("a", broken, first), Candidate("b", make_guard("pb"), ScriptedCall(result="b"))],
        attempts=attempts,
    )

    assert result == ("b", 1)
    assert first.calls == 0
    assert [a.error_type for a in attempts] == ["CircuitOpen", None]


async def test_when_every_candidate_fails_call_failed_lists_each_attempt_and_chains_the_last_error() -> None:
    last = ContextLengthExceeded("does not fit 8k either")
    attempts: list[Attempt] = [Attempt("earlier-call", "x", 0.1)]  # from before this plan: not listed

    with pytest.raises(CallFailed) as caught:
        await run_plan(
            [
                Candidate("gpt", make_guard("openai", attempts=2), ScriptedCall([unavailable("503 a")] * 2)),
                Candidate("claude", make_guard("anthropic", attempts=1), ScriptedCall([last])),
            ],
            attempts=attempts,
        )

    error = caught.value
    assert error.__cause__ is last
    assert error.model == "gpt"
    assert error.attempts == attempts[1:]
    assert len(error.attempts) == 3
    message = str(error)
    assert "gpt via openai: ProviderUnavailable: 503 a" in message
    assert message.count("gpt via openai: ProviderUnavailable: 503 a") == 2
    assert "claude via anthropic: ContextLengthExceeded: does not fit 8k either" in message
    assert "earlier-call" not in message
    assert "fallback" in message  # says what to do


async def test_a_single_candidate_that_fails_one_way_raises_that_error_with_its_attempts() -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        await run_plan([Candidate("a", make_guard(attempts=2), ScriptedCall([unavailable()] * 2))], attempts=[])
    assert [a.error_type for a in caught.value.attempts] == ["ProviderUnavailable"] * 2


async def test_a_rate_limit_alone_is_raised_as_itself_with_retry_after_kept() -> None:
    limited = ProviderRateLimited("429 slow down", retry_after=30.0)
    with pytest.raises(ProviderRateLimited) as caught:
        await run_plan([Candidate("a", make_guard(attempts=1), ScriptedCall([limited]))], attempts=[])
    assert caught.value is limited
    assert caught.value.retry_after == 30.0
    assert len(caught.value.attempts) == 1


async def test_mixed_failures_give_call_failed_with_advice_that_fits_them() -> None:
    with pytest.raises(CallFailed) as caught:
        await run_plan(
            [
                Candidate("a", make_guard("pa", attempts=1), ScriptedCall([ProviderRateLimited("429")])),
                Candidate("b", make_guard("pb", attempts=1), ScriptedCall([unavailable()])),
            ],
            attempts=[],
        )
    message = str(caught.value)
    assert "rate limiting" in message
    assert "status" in message
    assert "credentials" not in message
    assert len(caught.value.attempts) == 2
    assert isinstance(caught.value.__cause__, ProviderUnavailable)


async def test_an_empty_plan_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one candidate"):
        await run_plan([], attempts=[])


async def test_an_open_circuit_alone_is_raised_as_circuit_open_and_after_another_failure_as_call_failed() -> None:
    clock = FakeClock()
    guard = make_guard("pa", attempts=1, failures=1, cooldown=60.0, clock=clock)
    with pytest.raises(ProviderUnavailable):
        await guard.run(ScriptedCall([unavailable()]), model="a", attempts=[])

    with pytest.raises(CircuitOpen) as alone:
        await run_plan([Candidate("a", guard, ScriptedCall())], attempts=[])
    assert alone.value.retry_after is not None
    with pytest.raises(CallFailed) as caught:
        await run_plan(
            [
                Candidate("z", make_guard("pz", attempts=1), ScriptedCall([unavailable()])),
                Candidate("a", guard, ScriptedCall()),
            ],
            attempts=[],
        )
    assert isinstance(caught.value.__cause__, CircuitOpen)


async def test_a_billing_error_is_never_retried_but_another_candidate_may_serve() -> None:
    from agentrt.errors import ProviderQuotaExceeded

    broke = ScriptedCall([ProviderQuotaExceeded("insufficient_quota", status=429)] * 3)
    other = ScriptedCall(result="from b")
    attempts: list[Attempt] = []
    result = await run_plan(
        [Candidate("a", make_guard("pa", attempts=3), broke), Candidate("b", make_guard("pb"), other)],
        attempts=attempts,
    )
    assert result == ("from b", 1)
    assert broke.calls == 1
    with pytest.raises(ProviderQuotaExceeded) as alone:
        await run_plan([Candidate("a", make_guard("pa", attempts=3), broke)], attempts=[])
    assert broke.calls == 2
    assert len(alone.value.attempts) == 1
