"""Fakes for the resilience tests: a clock, a sleep recorder, scripted calls and streams.

Nothing here imitates agentrt's own code: they stand in for the provider and
for time, the two things a resilience layer reacts to.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrt.resilience import CircuitBreaker, ConcurrencyLimit, ProviderGuard, RetryPolicy


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    """An ``asyncio.sleep`` stand-in: records each delay and moves the fake clock instead of waiting."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.delays: list[float] = []
        self.clock = clock

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.clock is not None:
            self.clock.advance(delay)
        await asyncio.sleep(0)


class Hang:
    """A script step: wait until released (never, unless the test sets ``event``)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()


class ScriptedCall:
    """An async callable that plays ``script`` one step per call, then answers ``result``.

    A step is an exception to raise, a :class:`Hang`, or a value to return.
    """

    def __init__(self, script: Sequence[object] = (), result: object = "ok") -> None:
        self.script = list(script)
        self.result = result
        self.calls = 0
        self.running = 0
        self.max_running = 0

    async def __call__(self) -> Any:
        self.calls += 1
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            step = self.script.pop(0) if self.script else self.result
            await asyncio.sleep(0)  # a real call suspends at least once
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, Hang):
                await step.event.wait()
                return self.result
            return step
        finally:
            self.running -= 1


@dataclass
class StreamScript:
    """One stream: ``events`` in order, then ``error`` (if any); ``hang_after`` events, stall forever."""

    events: list[str] = field(default_factory=list)
    error: BaseException | None = None
    hang_after: int | None = None


class ScriptedStream:
    """A stream factory (``() -> AsyncIterator``): each call plays the next :class:`StreamScript`.

    Records how many streams were opened, and how each one ended: ``"done"``,
    ``"error"``, ``"closed"`` (closed by its reader before the end) or
    ``"cancelled"`` (a timeout cancelled the wait for an event).
    """

    def __init__(self, *scripts: StreamScript) -> None:
        self.scripts = list(scripts)
        self.calls = 0
        self.endings: list[str] = []
        self.hanging = 0  # streams stalled right now

    async def _hang(self) -> None:
        self.hanging += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.hanging -= 1

    def __call__(self) -> AsyncIterator[str]:
        self.calls += 1
        script = self.scripts.pop(0) if self.scripts else StreamScript(["done"])
        return self._play(script)

    async def _play(self, script: StreamScript) -> AsyncIterator[str]:
        try:
            for number, event in enumerate(script.events):
                if script.hang_after == number:
                    await self._hang()
                await asyncio.sleep(0)
                yield event
            if script.hang_after == len(script.events):
                await self._hang()
            if script.error is not None:
                self.endings.append("error")
                raise script.error
        except GeneratorExit:
            self.endings.append("closed")
            raise
        except asyncio.CancelledError:
            self.endings.append("cancelled")
            raise
        self.endings.append("done")


def make_guard(
    provider: str = "prov",
    *,
    attempts: int = 3,
    backoff: float = 0.5,
    max_backoff: float = 20.0,
    jitter: bool = False,
    timeout: float = 30.0,
    failures: int = 0,
    cooldown: float = 30.0,
    max_in_flight: int = 8,
    clock: FakeClock | None = None,
    sleep: SleepRecorder | None = None,
) -> ProviderGuard:
    """A guard with test-friendly defaults: no jitter, breaker disabled, sleeps recorded not waited."""
    clock = clock or FakeClock()
    return ProviderGuard(
        provider,
        timeout=timeout,
        retry=RetryPolicy(attempts=attempts, backoff=backoff, max_backoff=max_backoff, jitter=jitter),
        breaker=CircuitBreaker(provider, failures=failures, cooldown=cooldown, clock=clock),
        limit=ConcurrencyLimit(max_in_flight),
        sleep=sleep or SleepRecorder(clock),
    )


async def until(condition: Callable[[], bool], *, spins: int = 10_000) -> None:
    """Let other tasks run until ``condition()`` holds (no wall-clock wait; fails if it never does)."""
    for _ in range(spins):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")
