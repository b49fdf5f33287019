"""The stream a :class:`~agentrt.resilience.ProviderGuard` hands out once the first event has arrived."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from time import perf_counter
from types import TracebackType
from typing import Generic, TypeVar, cast

from agentrt.errors import ProviderTimeout
from agentrt.resilience.breaker import CircuitBreaker
from agentrt.resilience.limit import ConcurrencyLimit
from agentrt.types import Attempt

__all__ = ["GuardedStream"]

E = TypeVar("E")


async def close_quietly(stream: AsyncIterator[object] | None) -> None:
    """Close a provider stream on an error path; an error while closing must not hide the first one."""
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    # The stream already failed; its cleanup failing too changes nothing.
    with contextlib.suppress(Exception):
        await aclose()


class GuardedStream(AsyncIterator[E], Generic[E]):
    """Yields the provider's first event (already received), then the rest, each within ``timeout``.

    It holds its provider's concurrency slot until it ends: exhausted, failed,
    or closed with :meth:`aclose` (or ``async with stream:``). Close a stream you
    stop reading early, or the slot stays taken. When it ends, the breaker
    records the outcome (a stream closed early by its reader counts as a
    success: the provider was answering) and the :class:`Attempt` recorded for
    it gets its final latency and, after a failure, the error.

    An event that does not arrive within ``timeout`` of the previous one raises
    :class:`~agentrt.errors.ProviderTimeout`; any other failure propagates as
    it is. Nothing is retried: the reader has already seen output.
    """

    __slots__ = (
        "_attempt",
        "_breaker",
        "_finished",
        "_first",
        "_has_first",
        "_inner",
        "_limit",
        "_provider",
        "_started",
        "_timeout",
        "_trial",
    )

    def __init__(
        self,
        inner: AsyncIterator[E],
        first: E | None,
        *,
        has_first: bool,
        timeout: float | None,
        limit: ConcurrencyLimit,
        breaker: CircuitBreaker,
        trial: bool,
        attempt: Attempt,
        started: float,
    ) -> None:
        self._inner = inner
        self._first = first
        self._has_first = has_first
        self._timeout = timeout
        self._limit = limit
        self._breaker = breaker
        self._trial = trial
        self._attempt = attempt
        self._started = started
        self._provider = attempt.provider
        self._finished = False

    @property
    def finished(self) -> bool:
        """True once the stream ended and gave its concurrency slot back."""
        return self._finished

    def __aiter__(self) -> GuardedStream[E]:
        return self

    async def __anext__(self) -> E:
        if self._has_first:
            self._has_first = False
            first, self._first = self._first, None
            return cast(E, first)
        if self._finished:
            raise StopAsyncIteration
        scope = asyncio.timeout(self._timeout)
        try:
            async with scope:
                return await self._inner.__anext__()
        except StopAsyncIteration:
            self._finish(None)
            raise
        except TimeoutError as exc:
            error = self._idle_timeout(exc, expired=scope.expired())
            self._finish(error)
            await close_quietly(self._inner)
            raise error from exc
        except Exception as exc:
            self._finish(exc)
            await close_quietly(self._inner)
            raise
        except BaseException as exc:
            # Cancelled: give the slot back now; the reader's aclose() closes the provider stream.
            self._finish(exc)
            raise

    async def aclose(self) -> None:
        """Stop reading: close the provider stream and give the slot back. Harmless when repeated."""
        self._has_first = False
        self._first = None
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            if not self._finished:
                self._finish(None)

    async def __aenter__(self) -> GuardedStream[E]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _idle_timeout(self, cause: TimeoutError, *, expired: bool) -> ProviderTimeout:
        model = self._attempt.model
        if expired and self._timeout is not None:
            message = (
                f"provider {self._provider!r} stopped streaming model {model!r}: no event for "
                f"{self._timeout:g}s after the previous one. Try again, or raise "
                f"providers.{self._provider}.timeout if the model thinks for longer"
            )
        else:
            message = f"provider {self._provider!r} timed out while streaming model {model!r}: {cause}"
        return ProviderTimeout(message, provider=self._provider, model=model)

    def _finish(self, error: BaseException | None) -> None:
        self._finished = True
        self._attempt.latency = perf_counter() - self._started
        self._limit.release()
        if error is None:
            self._breaker.record_success(self._trial)
            return
        self._breaker.record_failure(error, self._trial)
        if isinstance(error, Exception):
            self._attempt.error = f"{type(error).__name__}: {error}"
            self._attempt.error_type = type(error).__name__
