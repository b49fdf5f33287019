"""Retries of one provider's calls: only retryable errors, up to ``attempts``, with capped backoff."""

from __future__ import annotations

import pytest
from resilience_fakes import ScriptedCall, SleepRecorder, make_guard
from structlog.testing import capture_logs

from agentrt.config import RetrySection
from agentrt.errors import (
    CircuitOpen,
    ContextLengthExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from agentrt.resilience import RetryPolicy, is_retryable, requested_wait
from agentrt.types import Attempt


def unavailable(n: int = 0) -> ProviderUnavailable:
    return ProviderUnavailable(f"503 number {n}", provider="prov", status=503)


# --- the policy ----------------------------------------------------------------------


def test_policy_from_section_takes_the_configured_values() -> None:
    section = RetrySection.model_validate({"attempts": 5, "backoff": "250ms", "max_backoff": "4s"})
    policy = RetryPolicy.from_section(section)
    assert (policy.attempts, policy.backoff, policy.max_backoff, policy.jitter) == (5, 0.25, 4.0, True)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"attempts": 0}, "1 or more"),
        ({"backoff": -1.0}, "backoff must be 0 or more"),
        ({"backoff": 5.0, "max_backoff": 1.0}, "raise max_backoff"),
    ],
)
def test_policy_refuses_impossible_values(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen_and_slotted() -> None:
    policy = RetryPolicy()
    assert not hasattr(policy, "__dict__")
    with pytest.raises(AttributeError):
        policy.attempts = 9  # type: ignore[misc]


def test_retryable_classification_follows_the_error_tree() -> None:
    assert is_retryable(unavailable())
    assert is_retryable(ProviderTimeout("slow"))
    assert is_retryable(ProviderRateLimited("429"))
    assert is_retryable(CircuitOpen("open", provider="p"))
    assert not is_retryable(ProviderAuthError("401"))
    assert not is_retryable(ProviderBadRequest("400"))
    assert not is_retryable(ContextLengthExceeded("too long"))
    assert not is_retryable(ValueError("a bug"))


def test_requested_wait_reads_retry_after_when_positive() -> None:
    assert requested_wait(ProviderRateLimited("429", retry_after=2.5)) == 2.5
    assert requested_wait(ProviderRateLimited("429", retry_after=0)) is None
    assert requested_wait(ProviderRateLimited("429")) is None
    assert requested_wait(unavailable()) is None


# --- the guard applying it ---------------------------------------------------------------


async def test_success_at_once_calls_once_and_never_sleeps() -> None:
    sleep = SleepRecorder()
    guard = make_guard(sleep=sleep)
    call = ScriptedCall(result={"text": "hi"})
    attempts: list[Attempt] = []

    result = await guard.run(call, model="m", attempts=attempts)

    assert result == {"text": "hi"}
    assert call.calls == 1
    assert sleep.delays == []
    assert len(attempts) == 1
    assert attempts[0].ok
    assert (attempts[0].model, attempts[0].provider) == ("m", "prov")
    assert attempts[0].latency >= 0


async def test_the_success_path_logs_nothing() -> None:
    guard = make_guard(failures=3)
    with capture_logs() as logs:
        for _ in range(3):
            await guard.run(ScriptedCall(), model="m", attempts=[])
    assert logs == []


async def test_retryable_failures_are_retried_until_success() -> None:
    guard = make_guard(attempts=3)
    call = ScriptedCall([unavailable(1), ProviderTimeout("slow")], result="third time")
    attempts: list[Attempt] = []

    assert await guard.run(call, model="m", attempts=attempts) == "third time"

    assert call.calls == 3
    assert [a.error_type for a in attempts] == ["ProviderUnavailable", "ProviderTimeout", None]
    assert attempts[0].error == "ProviderUnavailable: 503 number 1"


async def test_tries_stop_at_attempts_and_the_last_error_is_raised() -> None:
    guard = make_guard(attempts=3)
    call = ScriptedCall([unavailable(1), unavailable(2), unavailable(3), "never reached"])
    attempts: list[Attempt] = []

    with pytest.raises(ProviderUnavailable, match="number 3"):
        await guard.run(call, model="m", attempts=attempts)

    assert call.calls == 3
    assert len(attempts) == 3
    assert not any(a.ok for a in attempts)


@pytest.mark.parametrize(
    "error",
    [ProviderAuthError("401: check the key"), ProviderBadRequest("400"), ContextLengthExceeded("too long")],
)
async def test_non_retryable_errors_propagate_at_once(error: Exception) -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=5, sleep=sleep)
    call = ScriptedCall([error])
    attempts: list[Attempt] = []

    with pytest.raises(type(error)) as caught:
        await guard.run(call, model="m", attempts=attempts)

    assert caught.value is error
    assert call.calls == 1
    assert sleep.delays == []
    assert [a.error_type for a in attempts] == [type(error).__name__]


async def test_a_non_retryable_error_after_retries_stops_them() -> None:
    guard = make_guard(attempts=5)
    call = ScriptedCall([unavailable(), ProviderAuthError("401"), "never reached"])

    with pytest.raises(ProviderAuthError):
        await guard.run(call, model="m", attempts=[])
    assert call.calls == 2


async def test_errors_outside_the_tree_are_bugs_and_propagate_at_once() -> None:
    guard = make_guard(attempts=5)
    call = ScriptedCall([KeyError("choices")])
    attempts: list[Attempt] = []

    with pytest.raises(KeyError):
        await guard.run(call, model="m", attempts=attempts)
    assert call.calls == 1
    assert attempts[0].error_type == "KeyError"


async def test_one_attempt_means_no_retry() -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=1, sleep=sleep)
    call = ScriptedCall([unavailable(), "never reached"])

    with pytest.raises(ProviderUnavailable):
        await guard.run(call, model="m", attempts=[])
    assert call.calls == 1
    assert sleep.delays == []


async def test_backoff_doubles_and_is_capped_at_max_backoff() -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=7, backoff=0.5, max_backoff=4.0, jitter=False, sleep=sleep)
    call = ScriptedCall([unavailable(n) for n in range(7)])

    with pytest.raises(ProviderUnavailable):
        await guard.run(call, model="m", attempts=[])

    assert sleep.delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_jitter_stays_between_half_and_the_whole_backoff() -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=6, backoff=1.0, max_backoff=8.0, jitter=True, sleep=sleep)
    call = ScriptedCall([unavailable(n) for n in range(6)])

    with pytest.raises(ProviderUnavailable):
        await guard.run(call, model="m", attempts=[])

    for delay, base in zip(sleep.delays, [1.0, 2.0, 4.0, 8.0, 8.0], strict=True):
        assert base / 2 <= delay <= base


async def test_retry_after_is_waited_when_longer_than_the_backoff() -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=3, backoff=0.5, max_backoff=20.0, sleep=sleep)
    call = ScriptedCall([ProviderRateLimited("429", retry_after=7.0), ProviderRateLimited("429", retry_after=0.1)])

    assert await guard.run(call, model="m", attempts=[]) == "ok"

    # 7s asked > 0.5s backoff: 7s; 0.1s asked < 1s backoff: the backoff.
    assert sleep.delays == [7.0, 1.0]


async def test_retry_after_beyond_max_backoff_gives_up_at_once() -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=5, max_backoff=20.0, sleep=sleep)
    limited = ProviderRateLimited("429: slow down", retry_after=60.0)
    call = ScriptedCall([limited, "never reached"])
    attempts: list[Attempt] = []

    with pytest.raises(ProviderRateLimited) as caught:
        await guard.run(call, model="m", attempts=attempts)

    assert caught.value is limited
    assert call.calls == 1
    assert sleep.delays == []
    assert len(attempts) == 1


async def test_retry_after_beyond_max_backoff_on_a_later_try_also_stops() -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=5, backoff=0.5, max_backoff=20.0, sleep=sleep)
    call = ScriptedCall([unavailable(), ProviderRateLimited("429", retry_after=21.0), "never reached"])

    with pytest.raises(ProviderRateLimited):
        await guard.run(call, model="m", attempts=[])
    assert call.calls == 2
    assert sleep.delays == [0.5]
