"""The provider guard: timeouts, construction from config, reconfiguration, cancellation."""

from __future__ import annotations

import asyncio

import pytest
from resilience_fakes import FakeClock, Hang, ScriptedCall, SleepRecorder, make_guard, until

from agentrt.config import ProviderSection
from agentrt.errors import ProviderTimeout, ProviderUnavailable
from agentrt.resilience import CircuitState, ProviderGuard
from agentrt.types import Attempt


def section(**values: object) -> ProviderSection:
    return ProviderSection.model_validate({"kind": "openai", **values})


# --- timeouts ------------------------------------------------------------------------


async def test_a_call_over_the_timeout_becomes_provider_timeout_naming_provider_model_and_timeout() -> None:
    guard = make_guard("openai", attempts=1, timeout=0.01)
    call = ScriptedCall([Hang()])
    attempts: list[Attempt] = []

    with pytest.raises(ProviderTimeout) as caught:
        await guard.run(call, model="gpt-4o-mini", attempts=attempts)

    error = caught.value
    assert (error.provider, error.model) == ("openai", "gpt-4o-mini")
    assert "'openai'" in str(error)
    assert "'gpt-4o-mini'" in str(error)
    assert "0.01s" in str(error)
    assert isinstance(error.__cause__, TimeoutError)
    assert attempts[0].error_type == "ProviderTimeout"


async def test_a_timeout_is_retried_like_any_retryable_failure() -> None:
    guard = make_guard(attempts=3, timeout=0.01)
    call = ScriptedCall([Hang(), Hang()], result="answered")

    assert await guard.run(call, model="m", attempts=[]) == "answered"
    assert call.calls == 3


async def test_the_clients_own_timeout_error_also_becomes_provider_timeout() -> None:
    guard = make_guard(attempts=1)
    call = ScriptedCall([TimeoutError("socket read timed out")])

    with pytest.raises(ProviderTimeout, match="socket read timed out") as caught:
        await guard.run(call, model="m", attempts=[])
    assert caught.value.model == "m"


# --- construction and reconfiguration --------------------------------------------------------


def test_from_section_builds_every_part_from_the_configuration() -> None:
    guard = ProviderGuard.from_section(
        "openai",
        section(
            timeout="12s",
            max_concurrency=3,
            retry={"attempts": 4, "backoff": "1s", "max_backoff": "9s"},
            breaker={"failures": 2, "cooldown": "45s"},
        ),
    )
    assert guard.provider == "openai"
    assert guard.timeout == 12.0
    assert (guard.retry.attempts, guard.retry.backoff, guard.retry.max_backoff) == (4, 1.0, 9.0)
    assert (guard.breaker.name, guard.breaker.failure_threshold, guard.breaker.cooldown) == ("openai", 2, 45.0)
    assert guard.limit.max_in_flight == 3


def test_a_guard_refuses_a_negative_timeout() -> None:
    with pytest.raises(ValueError, match="timeout must be 0"):
        make_guard(timeout=-1)


def test_the_configuration_refuses_a_zero_timeout() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        section(timeout=0)


async def test_a_guard_built_with_a_zero_timeout_waits_without_limit() -> None:
    guard = make_guard("p", timeout=0)
    assert guard.timeout == 0.0
    hang = Hang()
    call = ScriptedCall([hang])
    task = asyncio.create_task(guard.run(call, model="m", attempts=[]))
    await until(lambda: call.running == 1)
    await asyncio.sleep(0.02)  # longer than any timeout the other tests use: still running
    assert not task.done()
    hang.event.set()
    assert await task == "ok"


async def test_reconfigure_changes_later_calls_and_keeps_the_breaker_state() -> None:
    clock = FakeClock()
    guard = ProviderGuard.from_section(
        "p", section(retry={"attempts": 1}, breaker={"failures": 1, "cooldown": "30s"}), clock=clock
    )
    with pytest.raises(ProviderUnavailable):
        await guard.run(ScriptedCall([ProviderUnavailable("503")]), model="m", attempts=[])
    assert guard.breaker.state is CircuitState.OPEN
    old_limit = guard.limit

    guard.reconfigure(
        section(timeout="5s", max_concurrency=2, retry={"attempts": 6}, breaker={"failures": 4, "cooldown": "10s"})
    )

    assert guard.timeout == 5.0
    assert guard.retry.attempts == 6
    assert guard.limit.max_in_flight == 2
    assert guard.limit is not old_limit
    assert guard.breaker.state is CircuitState.OPEN  # kept, with the new thresholds
    assert (guard.breaker.failure_threshold, guard.breaker.cooldown) == (4, 10.0)


def test_reconfigure_keeps_the_limit_when_its_size_is_unchanged() -> None:
    guard = ProviderGuard.from_section("p", section(max_concurrency=4))
    limit = guard.limit
    guard.reconfigure(section(max_concurrency=4, timeout="1s"))
    assert guard.limit is limit


async def test_a_call_in_flight_keeps_the_settings_it_started_with() -> None:
    sleep = SleepRecorder()
    guard = ProviderGuard.from_section("p", section(retry={"attempts": 2, "backoff": "1s"}), sleep=sleep)
    hang = Hang()
    call = ScriptedCall([hang, ProviderUnavailable("503"), ProviderUnavailable("503")])

    first = asyncio.create_task(guard.run(call, model="m", attempts=[]))
    await until(lambda: call.running == 1)  # the first call is waiting on its Hang
    guard.reconfigure(section(retry={"attempts": 5, "backoff": "1s"}))
    hang.event.set()
    assert await first == "ok"

    # A call started after the change gets its 5 attempts: two failures, then success.
    assert await guard.run(call, model="m", attempts=[]) == "ok"
    assert call.calls == 4


async def test_cancelling_a_call_records_no_attempt_and_frees_its_slot() -> None:
    guard = make_guard(max_in_flight=1, failures=1)
    call = ScriptedCall([Hang()])
    attempts: list[Attempt] = []

    task = asyncio.create_task(guard.run(call, model="m", attempts=attempts))
    await until(lambda: call.running == 1)
    assert guard.limit.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert attempts == []
    assert guard.limit.in_flight == 0
    assert guard.breaker.state is CircuitState.CLOSED  # a cancellation says nothing about the provider
    assert await guard.run(call, model="m", attempts=attempts) == "ok"
