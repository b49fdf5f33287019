"""How often and how patiently a failed provider call is tried again.

The policy is plain data; the machinery that applies it (tenacity) lives in
:mod:`agentrt.resilience._retrying` and is imported only after a first
retryable failure, so a call that succeeds at once never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentrt.errors import AgentRTError

if TYPE_CHECKING:
    from agentrt.config import RetrySection

__all__ = ["RetryPolicy", "is_retryable", "requested_wait"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in total (the first included), waiting longer before each retry.

    The wait before retry *n* (n = 1 before the second try) is exponential:
    ``min(max_backoff, backoff * 2 ** (n - 1))``. With ``jitter`` (the default)
    it is "equal jitter": half of that plus a random part up to the other half.
    Equal rather than full jitter because full jitter may retry almost at once,
    which hits a provider that is just recovering; equal jitter still spreads
    the retries of many callers that failed together, and never waits less
    than half the backoff.

    A provider that says how long to wait (``retry_after`` of
    :class:`~agentrt.errors.ProviderRateLimited` or
    :class:`~agentrt.errors.CircuitOpen`) is waited for at least that long; when
    it asks for more than ``max_backoff``, the candidate gives up at once, so a
    fallback model can serve the call instead of the caller sleeping.

    Only errors with ``retryable = True`` are retried; every other error
    propagates at once.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 20.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts counts every try, the first included: use 1 or more, not {self.attempts}")
        if self.backoff < 0:
            raise ValueError(f"backoff must be 0 or more seconds, got {self.backoff}")
        if self.max_backoff < self.backoff:
            raise ValueError(
                f"max_backoff ({self.max_backoff}s) is smaller than backoff ({self.backoff}s): "
                "raise max_backoff or lower backoff"
            )

    @classmethod
    def from_section(cls, section: RetrySection) -> RetryPolicy:
        """The policy a provider's ``retry`` configuration section describes (with jitter)."""
        return cls(attempts=section.attempts, backoff=section.backoff, max_backoff=section.max_backoff)


def is_retryable(error: BaseException) -> bool:
    """True for errors that another try may cure (``retryable`` in :mod:`agentrt.errors`)."""
    return isinstance(error, AgentRTError) and error.retryable


def requested_wait(error: BaseException) -> float | None:
    """The seconds the provider (or our breaker) asked to wait before the next try, if it said."""
    wait = getattr(error, "retry_after", None)
    if isinstance(wait, int | float) and wait > 0:
        return float(wait)
    return None
