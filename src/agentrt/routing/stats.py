"""What the routing strategies read about each deployment, kept in this process: calls in flight, latency.

``least-busy`` reads the calls in flight; ``latency`` the exponentially
weighted moving average of each try's time to first token (a stream's first
event, a plain call's answer). ``usage`` reads what is left of each
deployment's rpm/tpm, from the policy backend's counters, refreshed in the
background at most every :data:`USAGE_REFRESH` seconds (the hold itself is
exact; the ordering only needs to be about right).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter
from typing import TypeVar

__all__ = ["LATENCY_ALPHA", "USAGE_REFRESH", "DeploymentState", "DeploymentStats"]

T = TypeVar("T")
E = TypeVar("E")

LATENCY_ALPHA = 0.3
"""Weight of the newest sample in the moving average of latency."""

USAGE_REFRESH = 1.0
"""Seconds between two reads of a model's deployment counters, for the ``usage`` strategy."""


class DeploymentState:
    """One deployment's numbers: calls in flight, latency average (None: no sample yet), share left."""

    __slots__ = ("in_flight", "latency", "left")

    def __init__(self) -> None:
        self.in_flight = 0
        self.latency: float | None = None
        self.left = 1.0  # the smaller of rpm and tpm left, as a fraction (1: unknown or unlimited)

    def observe(self, seconds: float) -> None:
        latency = self.latency
        self.latency = seconds if latency is None else latency + LATENCY_ALPHA * (seconds - latency)


class DeploymentStats:
    """The state of every deployment, by key; made on first use."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[str, DeploymentState] = {}

    def get(self, key: str) -> DeploymentState:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = DeploymentState()
        return state

    def timed(self, key: str, fn: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """``fn`` counted in flight while it runs, its latency observed when it succeeds."""
        state = self.get(key)

        async def counted() -> T:
            state.in_flight += 1
            started = perf_counter()
            try:
                result = await fn()
            finally:
                state.in_flight -= 1
            state.observe(perf_counter() - started)
            return result

        return counted

    def timed_stream(self, key: str, fn: Callable[[], AsyncIterator[E]]) -> Callable[[], AsyncIterator[E]]:
        """The stream ``fn()`` counted in flight until it ends, its time to first event observed."""
        state = self.get(key)

        async def counted() -> AsyncIterator[E]:
            state.in_flight += 1
            started = perf_counter()
            first = True
            try:
                async for event in fn():
                    if first:
                        first = False
                        state.observe(perf_counter() - started)
                    yield event
            finally:
                state.in_flight -= 1

        return counted
