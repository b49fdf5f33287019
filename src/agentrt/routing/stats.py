"""What the routing strategies read about each deployment, kept in this process: calls in flight, latency.

``least-busy`` reads the calls in flight; ``latency`` the exponentially
weighted moving average of each try's time to first token (a stream's first
event, a plain call's answer). ``usage`` reads what is left of each
deployment's rpm/tpm, from the policy backend's counters, refreshed in the
background at most every :data:`USAGE_REFRESH` seconds (the hold itself is
exact; the ordering only needs to be about right). The tries by outcome are
counted here too, as plain integers: the metrics read them when scraped, so a
call pays no metric update (:mod:`agentrt.routing._metrics`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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
    """One deployment's numbers: calls in flight, latency average (None: no sample yet), share of its limits
    left, and its tries by outcome (``ok``, ``errors``, ``busy``: skipped at its limit)."""

    __slots__ = ("busy", "errors", "in_flight", "label", "latency", "left", "model", "ok")

    def __init__(self, model: str = "", label: str = "") -> None:
        self.model = model
        self.label = label
        self.in_flight = 0
        self.latency: float | None = None
        self.left = 1.0  # the smaller of rpm and tpm left, as a fraction (1: unknown or unlimited)
        self.ok = 0
        self.errors = 0
        self.busy = 0

    def observe(self, seconds: float) -> None:
        latency = self.latency
        self.latency = seconds if latency is None else latency + LATENCY_ALPHA * (seconds - latency)


class DeploymentStats:
    """The state of every deployment, by key; made on first use."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[str, DeploymentState] = {}

    def get(self, key: str, model: str = "", label: str = "") -> DeploymentState:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = DeploymentState(model, label)
        return state

    def __iter__(self) -> Iterator[DeploymentState]:
        return iter(list(self._states.values()))

    def timed(
        self, key: str, fn: Callable[[], Awaitable[T]], model: str = "", label: str = ""
    ) -> Callable[[], Awaitable[T]]:
        """``fn`` counted in flight while it runs, its outcome counted, its latency observed when it succeeds.
        ``model`` and ``label`` name the deployment in the metrics."""
        state = self.get(key, model, label)

        async def counted() -> T:
            state.in_flight += 1
            started = perf_counter()
            try:
                result = await fn()
            except Exception:
                state.errors += 1
                raise
            finally:
                state.in_flight -= 1
            state.observe(perf_counter() - started)
            state.ok += 1
            return result

        return counted

    def timed_stream(
        self, key: str, fn: Callable[[], AsyncIterator[E]], model: str = "", label: str = ""
    ) -> Callable[[], AsyncIterator[E]]:
        """The stream ``fn()`` counted in flight until it ends, its time to first event observed."""
        state = self.get(key, model, label)

        async def counted() -> AsyncIterator[E]:
            state.in_flight += 1
            started = perf_counter()
            opened = False
            try:
                async for event in fn():
                    if not opened:
                        opened = True
                        state.observe(perf_counter() - started)
                        state.ok += 1
                    yield event
            except Exception:
                if not opened:  # a stream failing later is the reader's error; the try itself succeeded
                    state.errors += 1
                raise
            finally:
                state.in_flight -= 1

        return counted
