"""One provider's protection: circuit breaker, concurrency limit, timeout and retries around each call.

One :class:`ProviderGuard` per provider, shared by every call to it. Each try
goes breaker check → concurrency slot → ``asyncio.timeout`` around the call →
outcome recorded on the breaker, and appends one :class:`~agentrt.types.Attempt`.

The first try runs without any retry machinery; tenacity is entered only after
a first retryable failure (see :mod:`agentrt.resilience._retrying`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, TypeVar

from agentrt.errors import AgentRTError, CircuitOpen, ProviderTimeout
from agentrt.resilience.breaker import CircuitBreaker
from agentrt.resilience.limit import ConcurrencyLimit
from agentrt.resilience.retry import RetryPolicy
from agentrt.resilience.stream import GuardedStream, close_quietly
from agentrt.types import Attempt

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["ProviderGuard", "Sleep"]

T = TypeVar("T")
E = TypeVar("E")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Settings:
    """What a call reads once when it starts, so a reconfigure never changes a call halfway."""

    timeout: float | None  # None: no timeout
    retry: RetryPolicy
    limit: ConcurrencyLimit


def _failed_attempt(
    model: str, provider: str, latency: float, error: BaseException, deployment: str | None = None
) -> Attempt:
    name = type(error).__name__
    return Attempt(model, provider, latency, f"{name}: {error}", name, deployment)


class ProviderGuard:
    """Breaker, concurrency limit, timeout and retries for every call to one provider.

    ``timeout`` bounds each try of a plain call, and for a stream the wait for
    each event; 0 means no timeout. ``sleep`` is what waits between retries
    (tests pass a recorder).
    """

    __slots__ = ("_box", "_sleep", "breaker", "deployment", "provider")

    def __init__(
        self,
        provider: str,
        *,
        timeout: float,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        limit: ConcurrencyLimit,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.breaker = breaker
        self.deployment: str | None = None
        # One box that the deployment guards of this provider share: a reconfigure reaches them all.
        self._box = [_Settings(_deadline(timeout), retry, limit)]
        self._sleep = sleep

    def for_deployment(self, deployment: str, breaker: CircuitBreaker) -> ProviderGuard:
        """A guard for one deployment on this provider: its own ``breaker``, so a failing deployment cools
        down alone; this provider's concurrency limit, timeout and retries (a reconfigure applies to both)."""
        guard = object.__new__(ProviderGuard)
        guard.provider = self.provider
        guard.breaker = breaker
        guard.deployment = deployment
        guard._box = self._box
        guard._sleep = self._sleep
        return guard

    @classmethod
    def from_section(
        cls,
        name: str,
        section: ProviderSection,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> ProviderGuard:
        """The guard of provider ``name`` as its configuration section says."""
        return cls(
            name,
            timeout=section.timeout,
            retry=RetryPolicy.from_section(section.retry),
            breaker=CircuitBreaker.from_section(name, section.breaker, clock=clock),
            limit=ConcurrencyLimit(section.max_concurrency),
            sleep=sleep,
        )

    def reconfigure(self, section: ProviderSection) -> None:
        """Apply a new configuration of this provider to the calls that start from now on.

        Calls already running keep the timeout, retries and limit they started
        with. The breaker keeps its state and takes the new thresholds. A new
        ``max_concurrency`` gives new calls a new limit; until the calls holding
        slots of the old one finish, both limits' calls can be in flight.
        """
        timeout = _deadline(section.timeout)
        current = self._box[0]
        limit = current.limit
        if limit.max_in_flight != section.max_concurrency:
            limit = ConcurrencyLimit(section.max_concurrency)
        self._box[0] = _Settings(timeout, RetryPolicy.from_section(section.retry), limit)
        self.breaker.configure(failures=section.breaker.failures, cooldown=section.breaker.cooldown)

    @property
    def timeout(self) -> float:
        """Seconds each try (or each stream event) may take; 0: no timeout."""
        return self._box[0].timeout or 0.0

    @property
    def retry(self) -> RetryPolicy:
        return self._box[0].retry

    @property
    def limit(self) -> ConcurrencyLimit:
        """The limit new calls take a slot from (read its ``in_flight`` and ``waiting``)."""
        return self._box[0].limit

    # --- plain calls -------------------------------------------------------------

    async def run(self, fn: Callable[[], Awaitable[T]], *, model: str, attempts: list[Attempt]) -> T:
        """Call ``fn()`` under the guard, retrying retryable failures; return its result.

        ``model`` names the model in attempts and errors. One :class:`Attempt`
        per try is appended to ``attempts`` (also a try the breaker refused,
        with latency 0; a cancelled try appends none). Raises the last error
        when the tries are used up, and a non-retryable error at once. A
        timeout is raised as :class:`ProviderTimeout`.
        """
        settings = self._box[0]
        try:
            return await self._call_once(fn, model, attempts, settings)
        except AgentRTError as exc:
            if not exc.retryable or settings.retry.attempts < 2:
                raise
            first_error: AgentRTError = exc
        from agentrt.resilience._retrying import retry_after_failure

        return await retry_after_failure(
            settings.retry,
            first_error,
            lambda: self._call_once(fn, model, attempts, settings),
            self._sleep,
        )

    async def _call_once(
        self, fn: Callable[[], Awaitable[T]], model: str, attempts: list[Attempt], settings: _Settings
    ) -> T:
        trial, limit = await self._admit(model, attempts, settings)
        timeout = settings.timeout
        scope = asyncio.timeout(timeout)
        started = perf_counter()
        try:
            async with scope:
                result = await fn()
        except TimeoutError as exc:
            error = self._timeout_error(model, timeout, exc, expired=scope.expired())
            self._failed(error, trial, limit, model, attempts, started)
            raise error from exc
        except BaseException as exc:
            self._failed(exc, trial, limit, model, attempts, started)
            raise
        latency = perf_counter() - started
        limit.release()
        self.breaker.record_success(trial)
        attempts.append(Attempt(model, self.provider, latency, deployment=self.deployment))
        return result

    # --- streams -----------------------------------------------------------------

    async def open_stream(
        self, fn: Callable[[], AsyncIterator[E]], *, model: str, attempts: list[Attempt]
    ) -> GuardedStream[E]:
        """Start the stream ``fn()`` under the guard and wait for its first event.

        Until the first event arrives, a failure is retried like a plain call
        (each try calls ``fn()`` again). Then the returned stream yields that
        event and the rest; see :class:`GuardedStream` for what happens after
        (no retries, idle timeout, the slot held until the stream ends). The
        stream's :class:`Attempt` is appended when the first event arrives; its
        latency and error are completed when the stream ends.
        """
        settings = self._box[0]
        try:
            return await self._open_once(fn, model, attempts, settings)
        except AgentRTError as exc:
            if not exc.retryable or settings.retry.attempts < 2:
                raise
            first_error: AgentRTError = exc
        from agentrt.resilience._retrying import retry_after_failure

        return await retry_after_failure(
            settings.retry,
            first_error,
            lambda: self._open_once(fn, model, attempts, settings),
            self._sleep,
        )

    async def _open_once(
        self, fn: Callable[[], AsyncIterator[E]], model: str, attempts: list[Attempt], settings: _Settings
    ) -> GuardedStream[E]:
        trial, limit = await self._admit(model, attempts, settings)
        timeout = settings.timeout
        scope = asyncio.timeout(timeout)
        started = perf_counter()
        inner: AsyncIterator[E] | None = None
        first: E | None = None
        has_first = True
        try:
            inner = fn()
            async with scope:
                first = await inner.__anext__()
        except StopAsyncIteration:
            has_first = False  # an empty stream: the provider answered, with nothing
        except TimeoutError as exc:
            error = self._timeout_error(model, timeout, exc, expired=scope.expired())
            self._failed(error, trial, limit, model, attempts, started)
            await close_quietly(inner)
            raise error from exc
        except BaseException as exc:
            # Cancelled too: nobody else holds this stream, so close it here.
            self._failed(exc, trial, limit, model, attempts, started)
            await close_quietly(inner)
            raise
        assert inner is not None  # fn() returned, or we would have raised above
        attempt = Attempt(model, self.provider, perf_counter() - started, deployment=self.deployment)
        attempts.append(attempt)
        stream = GuardedStream(
            inner,
            first,
            has_first=has_first,
            timeout=timeout,
            limit=limit,
            breaker=self.breaker,
            trial=trial,
            attempt=attempt,
            started=started,
        )
        if not has_first:
            await stream.aclose()
        return stream

    # --- shared steps of one try ---------------------------------------------------

    async def _admit(self, model: str, attempts: list[Attempt], settings: _Settings) -> tuple[bool, ConcurrencyLimit]:
        """Pass the breaker and take a concurrency slot; returns (is the breaker's trial, the limit)."""
        breaker = self.breaker
        try:
            trial = breaker.before_call()
        except CircuitOpen as exc:
            attempts.append(_failed_attempt(model, self.provider, 0.0, exc, self.deployment))
            raise
        limit = settings.limit
        try:
            await limit.acquire()
        except BaseException as exc:  # cancelled while waiting: no call happened
            breaker.record_failure(exc, trial)
            raise
        return trial, limit

    def _failed(
        self,
        error: BaseException,
        trial: bool,
        limit: ConcurrencyLimit,
        model: str,
        attempts: list[Attempt],
        started: float,
    ) -> None:
        latency = perf_counter() - started
        limit.release()
        self.breaker.record_failure(error, trial)
        if isinstance(error, Exception):  # a cancellation is not a failed try
            attempts.append(_failed_attempt(model, self.provider, latency, error, self.deployment))

    def _timeout_error(
        self, model: str, timeout: float | None, cause: TimeoutError, *, expired: bool
    ) -> ProviderTimeout:
        if expired and timeout is not None:
            message = (
                f"provider {self.provider!r} did not answer for model {model!r} within {timeout:g}s. "
                f"Try again later, configure a fallback model, or raise providers.{self.provider}.timeout"
            )
        else:  # the client's own timeout (e.g. a socket read) rather than ours
            message = f"provider {self.provider!r} timed out for model {model!r}: {cause}"
        return ProviderTimeout(message, provider=self.provider, model=model)

    def __repr__(self) -> str:
        settings = self._box[0]
        return (
            f"ProviderGuard({self.provider!r}, timeout={self.timeout:g}s, {settings.retry}, "
            f"{self.breaker!r}, {settings.limit!r})"
        )


def _deadline(timeout: float) -> float | None:
    """The ``asyncio.timeout`` delay for a configured timeout: 0 means none."""
    if timeout < 0:
        raise ValueError(f"timeout must be 0 (none) or more seconds, got {timeout}")
    return float(timeout) if timeout > 0 else None
