"""Invariants of a plan over random failure sequences: calls are bounded and every call is recorded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from resilience_fakes import FakeClock, ScriptedCall, ScriptedStream, SleepRecorder, StreamScript, make_guard

from agentrt.errors import (
    AgentRTError,
    CallFailed,
    ContextLengthExceeded,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from agentrt.resilience import Candidate, StreamCandidate, run_plan, stream_plan
from agentrt.types import Attempt

MAX_BACKOFF = 20.0


def outcome(kind: str) -> object:
    """One scripted step: an error of that kind, or a success."""
    return {
        "ok": "ok",
        "unavailable": ProviderUnavailable("503"),
        "timeout": ProviderTimeout("slow"),
        "limited": ProviderRateLimited("429", retry_after=1.0),
        "limited_long": ProviderRateLimited("429", retry_after=MAX_BACKOFF * 3),
        "auth": ProviderAuthError("401"),
        "bad": ProviderBadRequest("400"),
        "context": ContextLengthExceeded("too long"),
    }[kind]


KINDS = st.sampled_from(["ok", "unavailable", "timeout", "limited", "limited_long", "auth", "bad", "context"])


@dataclass
class Plan:
    attempts: int
    failures: int  # breaker threshold; 0: disabled
    script: list[str]


PLANS = st.lists(
    st.builds(
        Plan,
        attempts=st.integers(1, 4),
        failures=st.integers(0, 3),
        script=st.lists(KINDS, max_size=6),
    ),
    min_size=1,
    max_size=4,
)


def check(plans: list[Plan], calls: list[int], attempts: list[Attempt], outcome_: object) -> None:
    max_attempts = max(p.attempts for p in plans)
    assert sum(calls) <= max_attempts * len(plans)
    for plan, count in zip(plans, calls, strict=True):
        assert count <= plan.attempts
    # Tries the breaker refused made no call; every other try is one call, recorded once.
    made = [a for a in attempts if a.error_type != "CircuitOpen"]
    assert len(made) == sum(calls)
    if all(p.failures == 0 for p in plans):
        assert len(attempts) == sum(calls)
    if isinstance(outcome_, tuple):
        _, index = outcome_
        assert attempts[-1].ok
        assert attempts[-1].model == f"m{index}"
        assert all(not a.ok for a in attempts[:-1])
    elif isinstance(outcome_, CallFailed):
        assert outcome_.attempts == attempts
        assert all(not a.ok for a in attempts)
        assert isinstance(outcome_.__cause__, AgentRTError)
        assert len({a.error_type for a in attempts}) > 1  # mixed failures; one kind is raised as itself
    elif isinstance(outcome_, ProviderError) and outcome_.attempts:  # every try failed one way: that error
        assert outcome_.attempts == attempts
        assert {a.error_type for a in attempts} == {type(outcome_).__name__}
    else:
        assert isinstance(outcome_, ProviderAuthError | ProviderBadRequest)
        assert not isinstance(outcome_, ContextLengthExceeded)
        assert attempts[-1].error_type == type(outcome_).__name__


def guards(plans: list[Plan]) -> list:  # type: ignore[type-arg]
    clock = FakeClock()
    return [
        make_guard(
            f"p{i}",
            attempts=p.attempts,
            max_backoff=MAX_BACKOFF,
            failures=p.failures,
            cooldown=5.0,
            clock=clock,
            sleep=SleepRecorder(clock),
        )
        for i, p in enumerate(plans)
    ]


@settings(max_examples=150, deadline=None)
@given(PLANS)
def test_run_plan_bounds_calls_and_records_each_one(plans: list[Plan]) -> None:
    async def scenario() -> tuple[list[int], list[Attempt], object]:
        calls = [ScriptedCall([outcome(k) for k in p.script]) for p in plans]
        candidates = [
            Candidate(f"m{i}", guard, call) for i, (guard, call) in enumerate(zip(guards(plans), calls, strict=True))
        ]
        attempts: list[Attempt] = []
        try:
            result: object = await run_plan(candidates, attempts=attempts)
        except AgentRTError as exc:
            result = exc
        return [c.calls for c in calls], attempts, result

    calls, attempts, result = asyncio.run(scenario())
    check(plans, calls, attempts, result)


def stream_script(kind: str) -> StreamScript:
    step = outcome(kind)
    return StreamScript(["event"]) if step == "ok" else StreamScript(error=step)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(PLANS)
def test_stream_plan_bounds_calls_and_records_each_one(plans: list[Plan]) -> None:
    async def scenario() -> tuple[list[int], list[Attempt], object]:
        sources = [ScriptedStream(*(stream_script(k) for k in p.script)) for p in plans]
        candidates = [
            StreamCandidate(f"m{i}", guard, source)
            for i, (guard, source) in enumerate(zip(guards(plans), sources, strict=True))
        ]
        attempts: list[Attempt] = []
        try:
            stream, index = await stream_plan(candidates, attempts=attempts)
        except AgentRTError as exc:
            return [s.calls for s in sources], attempts, exc
        assert [event async for event in stream] in (["event"], ["done"])
        return [s.calls for s in sources], attempts, (stream, index)

    calls, attempts, result = asyncio.run(scenario())
    check(plans, calls, attempts, result)
