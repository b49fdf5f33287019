"""Applying a :class:`RetryPolicy` with tenacity, after the first try has already failed.

The first try of every call runs outside tenacity (DESIGN.md measured ~28 µs a
call for wrapping every call in ``AsyncRetrying``). When it fails with a
retryable error, :func:`retry_after_failure` hands the rest to tenacity and
replays that first failure as tenacity's attempt 1, without calling the
provider again, so tenacity's attempt numbers, waits and stop rule match the
policy's count of tries.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential

from agentrt.resilience.retry import RetryPolicy, is_retryable, requested_wait

__all__ = ["retry_after_failure"]

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


def _last_error(retry_state: RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    return outcome.exception()


class _Backoff(wait_base):
    """Exponential backoff with equal jitter, stretched to what the provider asked for."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._exponential = wait_exponential(multiplier=policy.backoff, max=policy.max_backoff)
        self._jitter = policy.jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = self._exponential(retry_state)
        if self._jitter and delay > 0:
            half = delay / 2
            delay = half + random.uniform(0, half)
        error = _last_error(retry_state)
        asked = requested_wait(error) if error is not None else None
        if asked is not None and asked > delay:
            delay = asked
        return delay


class _StopWhenAskedToWaitTooLong(stop_base):
    """Give up when the provider asks for a longer wait than ``max_backoff``: a fallback beats sleeping."""

    def __init__(self, max_backoff: float) -> None:
        self._max_backoff = max_backoff

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = _last_error(retry_state)
        asked = requested_wait(error) if error is not None else None
        return asked is not None and asked > self._max_backoff


async def retry_after_failure(
    policy: RetryPolicy,
    first_error: BaseException,
    try_again: Callable[[], Awaitable[T]],
    sleep: Sleep,
) -> T:
    """Continue a call whose first try failed with ``first_error``: retry ``try_again`` per ``policy``.

    Returns the first success; raises the last error when the tries are used
    up, when the provider asks to wait longer than ``max_backoff``, or at once
    for a non-retryable error.
    """
    replay: list[BaseException] = [first_error]

    async def attempt() -> T:
        if replay:
            raise replay.pop()
        return await try_again()

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(policy.attempts) | _StopWhenAskedToWaitTooLong(policy.max_backoff),
        wait=_Backoff(policy),
        retry=retry_if_exception(is_retryable),
        reraise=True,
    )
    return cast(T, await retrying(attempt))
