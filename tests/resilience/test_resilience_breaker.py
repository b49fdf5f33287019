"""The circuit breaker: its transitions, listeners and log events, on its own and inside a guard."""

from __future__ import annotations

import asyncio

import pytest
from resilience_fakes import FakeClock, Hang, ScriptedCall, SleepRecorder, make_guard, until
from structlog.testing import capture_logs

from agentrt.config import BreakerSection
from agentrt.errors import CircuitOpen, ProviderAuthError, ProviderBadRequest, ProviderUnavailable
from agentrt.resilience import CircuitBreaker, CircuitState
from agentrt.types import Attempt

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def failure() -> ProviderUnavailable:
    return ProviderUnavailable("503")


class Transitions:
    """A listener that records every (name, old, new)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, CircuitState, CircuitState]] = []

    def __call__(self, name: str, old: CircuitState, new: CircuitState) -> None:
        self.seen.append((name, old, new))


def breaker_with(failures: int = 3, cooldown: float = 30.0) -> tuple[CircuitBreaker, FakeClock, Transitions]:
    clock = FakeClock()
    breaker = CircuitBreaker("openai", failures=failures, cooldown=cooldown, clock=clock)
    transitions = Transitions()
    breaker.add_listener(transitions)
    return breaker, clock, transitions


def fail(breaker: CircuitBreaker, times: int = 1, error: BaseException | None = None) -> None:
    for _ in range(times):
        trial = breaker.before_call()
        breaker.record_failure(error or failure(), trial)


def succeed(breaker: CircuitBreaker) -> None:
    breaker.record_success(breaker.before_call())


def test_opens_after_the_configured_consecutive_failures() -> None:
    breaker, _, transitions = breaker_with(failures=3)
    fail(breaker, 2)
    assert breaker.state is CLOSED
    assert breaker.consecutive_failures == 2
    fail(breaker)
    assert breaker.state is OPEN
    assert transitions.seen == [("openai", CLOSED, OPEN)]


def test_a_success_resets_the_count() -> None:
    breaker, _, _ = breaker_with(failures=3)
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state is CLOSED
    assert breaker.consecutive_failures == 2


def test_non_retryable_errors_do_not_count() -> None:
    breaker, _, _ = breaker_with(failures=2)
    for _ in range(5):
        fail(breaker, error=ProviderAuthError("401"))
        fail(breaker, error=ProviderBadRequest("400"))
        fail(breaker, error=ValueError("a bug of ours"))
    assert breaker.state is CLOSED
    assert breaker.consecutive_failures == 0


def test_open_refuses_without_calling_and_says_when_it_lets_a_trial_through() -> None:
    breaker, clock, _ = breaker_with(failures=1, cooldown=30.0)
    fail(breaker)
    clock.advance(12.0)

    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()

    error = caught.value
    assert error.provider == "openai"
    assert error.retry_after == pytest.approx(18.0)
    assert "18.0s" in str(error)
    assert "fallback" in str(error)


def test_after_the_cooldown_it_is_half_open_and_a_successful_trial_closes_it() -> None:
    breaker, clock, transitions = breaker_with(failures=1, cooldown=30.0)
    fail(breaker)
    clock.advance(30.0)

    assert breaker.state is HALF_OPEN
    trial = breaker.before_call()
    assert trial is True
    breaker.record_success(trial)

    assert breaker.state is CLOSED
    assert breaker.consecutive_failures == 0
    assert transitions.seen == [("openai", CLOSED, OPEN), ("openai", OPEN, HALF_OPEN), ("openai", HALF_OPEN, CLOSED)]


def test_a_failed_trial_opens_it_again_with_a_fresh_cooldown() -> None:
    breaker, clock, transitions = breaker_with(failures=1, cooldown=30.0)
    fail(breaker)
    clock.advance(31.0)
    fail(breaker)  # the trial

    assert breaker.state is OPEN
    clock.advance(29.0)
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert caught.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)
    assert breaker.state is HALF_OPEN
    assert [new for _, _, new in transitions.seen] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN]


def test_half_open_lets_exactly_one_trial_through_at_a_time() -> None:
    breaker, clock, _ = breaker_with(failures=1, cooldown=5.0)
    fail(breaker)
    clock.advance(5.0)

    trial = breaker.before_call()
    with pytest.raises(CircuitOpen, match="one trial request") as caught:
        breaker.before_call()
    assert caught.value.retry_after is None
    breaker.record_success(trial)
    assert breaker.before_call() is False  # closed again: everyone passes


def test_a_trial_that_ends_neutrally_leaves_it_half_open_for_the_next_trial() -> None:
    breaker, clock, _ = breaker_with(failures=1, cooldown=5.0)
    fail(breaker)
    clock.advance(5.0)

    breaker.record_failure(asyncio.CancelledError(), breaker.before_call())
    assert breaker.state is HALF_OPEN
    breaker.record_failure(ProviderAuthError("401"), breaker.before_call())
    assert breaker.state is HALF_OPEN
    assert breaker.before_call() is True


def test_calls_that_started_before_it_opened_do_not_decide_for_the_trial() -> None:
    breaker, clock, _ = breaker_with(failures=1, cooldown=5.0)
    slow_call = breaker.before_call()  # admitted while closed
    fail(breaker)
    clock.advance(5.0)
    trial = breaker.before_call()

    breaker.record_success(slow_call)
    assert breaker.state is HALF_OPEN
    breaker.record_failure(failure(), trial)
    assert breaker.state is OPEN


def test_every_state_change_is_logged_with_provider_states_and_failures() -> None:
    breaker, clock, _ = breaker_with(failures=2, cooldown=5.0)
    with capture_logs() as logs:
        fail(breaker, 2)
        clock.advance(5.0)
        succeed(breaker)

    changes = [entry for entry in logs if entry["event"] == "circuit_state_changed"]
    assert [(c["provider"], c["old"], c["new"], c["failures"]) for c in changes] == [
        ("openai", "closed", "open", 2),
        ("openai", "open", "half_open", 2),
        ("openai", "half_open", "closed", 0),
    ]
    assert changes[0]["log_level"] == "warning"
    assert changes[2]["log_level"] == "info"


def test_a_listener_that_raises_is_logged_and_does_not_break_the_breaker() -> None:
    breaker, _, transitions = breaker_with(failures=1)

    def broken(name: str, old: CircuitState, new: CircuitState) -> None:
        raise RuntimeError("metrics backend down")

    breaker.add_listener(broken)
    breaker.add_listener(transitions)  # a second listener still hears about it
    with capture_logs() as logs:
        fail(breaker)

    assert breaker.state is OPEN
    assert len(transitions.seen) == 2  # added twice: once by breaker_with, once here
    failed = [entry for entry in logs if entry["event"] == "circuit_listener_failed"]
    assert failed[0]["error"] == "RuntimeError: metrics backend down"

    breaker.remove_listener(broken)
    breaker.remove_listener(broken)  # harmless when already gone


def test_zero_failures_disables_the_breaker() -> None:
    breaker, _, transitions = breaker_with(failures=0)
    fail(breaker, 100)
    assert breaker.state is CLOSED
    assert breaker.before_call() is False
    assert transitions.seen == []


def test_configure_keeps_the_state_and_disabling_closes_an_open_breaker() -> None:
    breaker, _, transitions = breaker_with(failures=1, cooldown=30.0)
    fail(breaker)
    breaker.configure(failures=3, cooldown=60.0)
    assert breaker.state is OPEN
    assert (breaker.failure_threshold, breaker.cooldown) == (3, 60.0)

    breaker.configure(failures=0, cooldown=60.0)
    assert breaker.state is CLOSED
    assert transitions.seen[-1] == ("openai", OPEN, CLOSED)


def test_from_section_and_invalid_values() -> None:
    breaker = CircuitBreaker.from_section("p", BreakerSection(failures=7, cooldown=2.5))
    assert (breaker.failure_threshold, breaker.cooldown, breaker.state) == (7, 2.5, CLOSED)
    with pytest.raises(ValueError, match="failures"):
        CircuitBreaker("p", failures=-1, cooldown=1)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker("p", failures=1, cooldown=-1)


# --- inside a guard ------------------------------------------------------------------------


async def test_a_guard_opens_its_breaker_and_then_refuses_without_calling() -> None:
    clock = FakeClock()
    guard = make_guard(attempts=1, failures=2, cooldown=30.0, clock=clock)
    call = ScriptedCall([failure(), failure()], result="recovered")
    attempts: list[Attempt] = []

    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await guard.run(call, model="m", attempts=attempts)
    with pytest.raises(CircuitOpen):
        await guard.run(call, model="m", attempts=attempts)

    assert call.calls == 2
    assert attempts[-1].error_type == "CircuitOpen"
    assert attempts[-1].latency == 0.0

    clock.advance(30.0)
    assert await guard.run(call, model="m", attempts=attempts) == "recovered"
    assert guard.breaker.state is CLOSED


async def test_a_guard_waits_out_a_short_cooldown_and_sends_the_trial() -> None:
    clock = FakeClock()
    sleep = SleepRecorder(clock)  # sleeping moves the fake clock
    guard = make_guard(attempts=3, backoff=0.5, max_backoff=20.0, failures=1, cooldown=10.0, clock=clock, sleep=sleep)
    call = ScriptedCall([failure()], result="recovered")
    attempts: list[Attempt] = []

    assert await guard.run(call, model="m", attempts=attempts) == "recovered"

    # Try 1 fails and opens the breaker; try 2 is refused (10s left, within max_backoff);
    # after waiting those 10s, try 3 is the trial and succeeds.
    assert [a.error_type for a in attempts] == ["ProviderUnavailable", "CircuitOpen", None]
    assert sleep.delays == [0.5, pytest.approx(9.5)]
    assert call.calls == 2


async def test_a_guard_gives_up_at_once_when_the_cooldown_exceeds_max_backoff() -> None:
    sleep = SleepRecorder()
    guard = make_guard(attempts=5, max_backoff=20.0, failures=1, cooldown=60.0, sleep=sleep)
    call = ScriptedCall([failure(), "never reached"])
    attempts: list[Attempt] = []

    # Try 1 fails and opens the breaker; try 2 is refused with 60s to wait, more than
    # max_backoff: the guard stops there and raises that last error.
    with pytest.raises(CircuitOpen):
        await guard.run(call, model="m", attempts=attempts)

    assert call.calls == 1
    assert [a.error_type for a in attempts] == ["ProviderUnavailable", "CircuitOpen"]
    assert sleep.delays == [0.5]


async def test_only_one_trial_reaches_the_provider_while_half_open() -> None:
    clock = FakeClock()
    guard = make_guard(attempts=1, failures=1, cooldown=5.0, clock=clock)
    with pytest.raises(ProviderUnavailable):
        await guard.run(ScriptedCall([failure()]), model="m", attempts=[])
    clock.advance(5.0)

    hang = Hang()
    call = ScriptedCall([hang])
    trial = asyncio.create_task(guard.run(call, model="m", attempts=[]))
    await until(lambda: call.running == 1)
    with pytest.raises(CircuitOpen):
        await guard.run(call, model="m", attempts=[])
    assert call.calls == 1

    hang.event.set()
    assert await trial == "ok"
    assert guard.breaker.state is CLOSED


async def test_a_cancelled_trial_frees_the_trial_for_the_next_call() -> None:
    clock = FakeClock()
    guard = make_guard(attempts=1, failures=1, cooldown=5.0, clock=clock)
    with pytest.raises(ProviderUnavailable):
        await guard.run(ScriptedCall([failure()]), model="m", attempts=[])
    clock.advance(5.0)

    call = ScriptedCall([Hang()])
    trial = asyncio.create_task(guard.run(call, model="m", attempts=[]))
    await until(lambda: call.running == 1)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial

    assert guard.breaker.state is HALF_OPEN
    assert await guard.run(call, model="m", attempts=[]) == "ok"
    assert guard.breaker.state is CLOSED


async def test_a_trial_cancelled_while_waiting_for_a_slot_frees_the_trial() -> None:
    clock = FakeClock()
    guard = make_guard(attempts=1, failures=1, cooldown=5.0, clock=clock, max_in_flight=1)
    with pytest.raises(ProviderUnavailable):
        await guard.run(ScriptedCall([failure()]), model="m", attempts=[])
    clock.advance(5.0)
    await guard.limit.acquire()  # someone else holds the only slot

    trial = asyncio.create_task(guard.run(ScriptedCall(), model="m", attempts=[]))
    await until(lambda: guard.limit.waiting == 1)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    guard.limit.release()

    assert await guard.run(ScriptedCall(result="trial"), model="m", attempts=[]) == "trial"
    assert guard.breaker.state is CLOSED
