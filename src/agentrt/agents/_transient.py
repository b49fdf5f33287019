"""Which handler errors are transient (waiting fixes them), and how long to wait before trying again.

A rate limit, a budget period that will reset, a provider that is down, slow or
behind an open breaker: the activity is fine, the moment is not. Such an error
is retried with backoff instead of counting as a crash, so that a busy hour
does not burn an agent's restarts in milliseconds.
"""

from __future__ import annotations

import time
from datetime import datetime

from agentrt.errors import (
    BudgetExceeded,
    CallFailed,
    CircuitOpen,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitExceeded,
)

__all__ = ["retry_delay"]

_WAIT_SAYS = (RateLimitExceeded, ProviderRateLimited, CircuitOpen)
_DOWN_OR_SLOW = (ProviderUnavailable, ProviderTimeout)


def retry_delay(err: BaseException, attempt: int, *, base: float, cap: float) -> float | None:
    """Seconds to wait before try ``attempt + 1`` after ``err``, or None when ``err`` is not transient.

    The error's own ``retry_after`` (or a budget's ``resets_at``) wins when it
    says; else exponential backoff from ``base``; never more than ``cap``.
    """
    told = _told_wait(err)
    if told is _NOT_TRANSIENT:
        return None
    backoff = base * (2 ** min(attempt, 30))
    wait = told if told is not None else backoff
    return max(0.0, min(wait, cap))


_NOT_TRANSIENT = -1.0


def _told_wait(err: BaseException) -> float | None:
    """What the error says to wait (None: it says nothing), or ``_NOT_TRANSIENT``."""
    if isinstance(err, _WAIT_SAYS):
        return err.retry_after
    if isinstance(err, _DOWN_OR_SLOW):
        return None
    if isinstance(err, BudgetExceeded):
        if err.resets_at is None:
            return _NOT_TRANSIENT  # a budget that never resets: waiting does not help
        return max(0.0, _epoch(err.resets_at) - time.time())
    if isinstance(err, CallFailed):
        # Every candidate failed: transient only if the last one's cause is.
        cause = err.__cause__
        return _told_wait(cause) if cause is not None else _NOT_TRANSIENT
    return _NOT_TRANSIENT


def _epoch(moment: datetime) -> float:
    return moment.timestamp()
