"""The execution plan of a call: the model asked for, then its fallbacks, in order.

A candidate that fails with a retryable error after its retries (or whose
breaker is open) hands over to the next one. A non-retryable error is raised
at once, since another model would refuse the request the same way; the one
exception is :class:`~agentrt.errors.ContextLengthExceeded`, which moves on
because the next model may have a larger context window. When every candidate
failed, :class:`~agentrt.errors.CallFailed` lists every attempt.

Streams fall back only before their first event: after it, the reader has
seen output and a failure propagates as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentrt.errors import AgentRTError, CallFailed, ContextLengthExceeded
from agentrt.resilience._log import logger
from agentrt.resilience.guard import ProviderGuard
from agentrt.resilience.stream import GuardedStream
from agentrt.types import Attempt

__all__ = ["Candidate", "StreamCandidate", "run_plan", "stream_plan"]

T = TypeVar("T")
E = TypeVar("E")
R = TypeVar("R")
C = TypeVar("C", bound="Candidate[Any] | StreamCandidate[Any]")


@dataclass(frozen=True, slots=True)
class Candidate(Generic[T]):
    """One model of a plan: its name, the guard of its provider, and the call that asks it."""

    model: str
    guard: ProviderGuard
    call: Callable[[], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class StreamCandidate(Generic[E]):
    """One model of a streaming plan: ``call()`` starts a new stream from that model."""

    model: str
    guard: ProviderGuard
    call: Callable[[], AsyncIterator[E]]


async def run_plan(candidates: Sequence[Candidate[T]], *, attempts: list[Attempt]) -> tuple[T, int]:
    """Try ``candidates`` in order; return the first success and the index of the candidate that gave it.

    Every try of every candidate is appended to ``attempts``. Raises
    :class:`CallFailed` (the last error as its ``__cause__``) when every
    candidate failed, or the first non-retryable error (other than
    :class:`ContextLengthExceeded`) as it is.
    """
    return await _first_success(
        candidates, attempts, lambda c: c.guard.run(c.call, model=c.model, attempts=attempts)
    )


async def stream_plan(
    candidates: Sequence[StreamCandidate[E]], *, attempts: list[Attempt]
) -> tuple[GuardedStream[E], int]:
    """Like :func:`run_plan` for streams: the first candidate whose stream delivers a first event wins.

    Returns that stream (first event included) and the candidate's index. Once
    it is returned there is no fallback: a later failure reaches the reader.
    """
    return await _first_success(
        candidates, attempts, lambda c: c.guard.open_stream(c.call, model=c.model, attempts=attempts)
    )


async def _first_success(
    candidates: Sequence[C], attempts: list[Attempt], attempt: Callable[[C], Awaitable[R]]
) -> tuple[R, int]:
    """The fallback rules both plans share: the first candidate ``attempt`` succeeds with wins."""
    _check_candidates(candidates)
    first_attempt = len(attempts)
    last_error: AgentRTError | None = None
    for index, candidate in enumerate(candidates):
        try:
            result = await attempt(candidate)
        except AgentRTError as exc:
            if not _passes_to_next(exc):
                raise
            last_error = exc
            _log_fallback(candidates, index, exc)
            continue
        return result, index
    raise _all_failed(candidates, attempts[first_attempt:]) from last_error


def _check_candidates(candidates: Sequence[Candidate[T] | StreamCandidate[E]]) -> None:
    if not candidates:
        raise ValueError("an execution plan needs at least one candidate model")


def _passes_to_next(error: AgentRTError) -> bool:
    return error.retryable or isinstance(error, ContextLengthExceeded)


def _log_fallback(candidates: Sequence[Candidate[T] | StreamCandidate[E]], index: int, error: BaseException) -> None:
    if index + 1 >= len(candidates):
        return
    failed, following = candidates[index], candidates[index + 1]
    logger().warning(
        "fallback",
        from_model=failed.model,
        from_provider=failed.guard.provider,
        to_model=following.model,
        to_provider=following.guard.provider,
        error=f"{type(error).__name__}: {error}",
    )


def _all_failed(candidates: Sequence[Candidate[T] | StreamCandidate[E]], attempts: list[Attempt]) -> CallFailed:
    models = ", ".join(repr(c.model) for c in candidates)
    lines = [f"  - {a.model} via {a.provider}: {a.error}" for a in attempts]
    count = len(attempts)
    message = (
        f"every model tried for this call failed ({models}; {count} attempt{'s' if count != 1 else ''}). "
        "Check the providers' status and credentials, or add fallback models:\n" + "\n".join(lines)
    )
    return CallFailed(message, attempts=attempts, model=candidates[0].model)
