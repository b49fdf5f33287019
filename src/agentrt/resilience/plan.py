"""The execution plan of a call: the model asked for, then its fallbacks, in order.

A candidate with an ``admit`` step (the call pipeline's policy admission) is
admitted before it is tried; one the policy refuses is skipped, its refusal
listed in the attempts. A candidate that fails with a retryable error after its
retries (or whose breaker is open) hands over to the next one, its ``release``
step run first (so its reservation is not held while the next one is tried). A
non-retryable error is raised at once, since another model would refuse the
request the same way; the exceptions are
:class:`~agentrt.errors.ContextLengthExceeded`, which moves on because the next
model may have a larger context window, and
:class:`~agentrt.errors.ProviderQuotaExceeded` (billing), because the next may
be billed to another account.

When every candidate failed, the error says what to catch: if every attempt
failed the same way (a 429 with no fallback), that error itself, with
``attempts`` set and its details (``retry_after``) kept; if every candidate
was at a rate limit (all deployments busy), the refusal with the soonest
``retry_after``; if the policy refused every candidate, the first refusal (the primary's); else
:class:`~agentrt.errors.CallFailed`, listing every attempt, with advice that
fits the errors seen.

Streams fall back only before their first event: after it, the reader has
seen output and a failure propagates as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentrt.errors import (
    AgentRTError,
    CallFailed,
    CircuitOpen,
    ContextLengthExceeded,
    PolicyError,
    ProviderAuthError,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitExceeded,
)
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
    admit: Callable[[], Awaitable[None]] | None = None  # before the first try; a PolicyError skips it
    release: Callable[[], Awaitable[None]] | None = None  # after it failed: give back what admit held


@dataclass(frozen=True, slots=True)
class StreamCandidate(Generic[E]):
    """One model of a streaming plan: ``call()`` starts a new stream from that model."""

    model: str
    guard: ProviderGuard
    call: Callable[[], AsyncIterator[E]]
    admit: Callable[[], Awaitable[None]] | None = None  # before the first try; a PolicyError skips it
    release: Callable[[], Awaitable[None]] | None = None  # after it failed: give back what admit held


async def run_plan(
    candidates: Sequence[Candidate[T]], *, attempts: list[Attempt], request_id: str | None = None
) -> tuple[T, int]:
    """Try ``candidates`` in order; return the first success and the index of the candidate that gave it.

    Every try of every candidate is appended to ``attempts``, and every
    refusal by a candidate's ``admit``. When every candidate failed, raises the
    error the module docstring describes; a non-retryable error (other than
    :class:`ContextLengthExceeded`) is raised at once, as it is. ``request_id``
    goes into the ``fallback`` log lines, to join them with the call's own.
    """
    return await _first_success(
        candidates, attempts, lambda c: c.guard.run(c.call, model=c.model, attempts=attempts), request_id
    )


async def stream_plan(
    candidates: Sequence[StreamCandidate[E]], *, attempts: list[Attempt], request_id: str | None = None
) -> tuple[GuardedStream[E], int]:
    """Like :func:`run_plan` for streams: the first candidate whose stream delivers a first event wins.

    Returns that stream (first event included) and the candidate's index. Once
    it is returned there is no fallback: a later failure reaches the reader.
    """
    return await _first_success(
        candidates, attempts, lambda c: c.guard.open_stream(c.call, model=c.model, attempts=attempts), request_id
    )


async def _first_success(
    candidates: Sequence[C], attempts: list[Attempt], attempt: Callable[[C], Awaitable[R]], request_id: str | None
) -> tuple[R, int]:
    """The fallback rules both plans share: the first candidate ``attempt`` succeeds with wins."""
    _check_candidates(candidates)
    first_attempt = len(attempts)
    errors: list[AgentRTError] = []  # the error that ended each candidate, in order
    for index, candidate in enumerate(candidates):
        if candidate.admit is not None:
            try:
                await candidate.admit()
            except PolicyError as exc:
                name = type(exc).__name__
                guard = candidate.guard
                attempts.append(Attempt(candidate.model, guard.provider, 0.0, f"{name}: {exc}", name, guard.deployment))
                errors.append(exc)
                _log_fallback(candidates, index, exc, request_id)
                continue
        try:
            result = await attempt(candidate)
        except AgentRTError as exc:
            await _release(candidate)
            if not _passes_to_next(exc):
                raise
            errors.append(exc)
            _log_fallback(candidates, index, exc, request_id)
            continue
        except BaseException:
            await _release(candidate)
            raise
        return result, index
    error = _all_failed(candidates, attempts[first_attempt:], errors)
    if error is errors[-1]:
        raise error
    raise error from errors[-1]


async def _release(candidate: Candidate[Any] | StreamCandidate[Any]) -> None:
    if candidate.release is not None:
        await candidate.release()


def _check_candidates(candidates: Sequence[Candidate[T] | StreamCandidate[E]]) -> None:
    if not candidates:
        raise ValueError("an execution plan needs at least one candidate model")


def _passes_to_next(error: AgentRTError) -> bool:
    # Never retried on the same model, but another may serve: a larger context window, another account.
    return error.retryable or isinstance(error, ContextLengthExceeded | ProviderQuotaExceeded)


def _log_fallback(
    candidates: Sequence[Candidate[T] | StreamCandidate[E]], index: int, error: BaseException, request_id: str | None
) -> None:
    if index + 1 >= len(candidates):
        return
    failed, following = candidates[index], candidates[index + 1]
    joined = {"request_id": request_id} if request_id is not None else {}
    logger().warning(
        "fallback",
        **joined,
        from_model=failed.model,
        from_provider=failed.guard.provider,
        to_model=following.model,
        to_provider=following.guard.provider,
        error=f"{type(error).__name__}: {error}",
    )


def _all_failed(
    candidates: Sequence[Candidate[T] | StreamCandidate[E]], attempts: list[Attempt], errors: list[AgentRTError]
) -> AgentRTError:
    last = errors[-1]
    if all(isinstance(error, RateLimitExceeded) for error in errors):
        # Every candidate was at a rate limit (deployments busy): the one with room soonest says when to retry.
        return min(errors, key=_retry_after)
    if all(isinstance(error, PolicyError) for error in errors):
        return errors[0]  # the policy refused every candidate: the primary's reason is the one to show
    kinds = {attempt.error_type for attempt in attempts}
    if kinds == {type(last).__name__} and isinstance(last, ProviderError):
        last.attempts = list(attempts)  # one kind of failure: raise it, catchable as itself
        return last
    models = ", ".join(repr(c.model) for c in candidates)
    lines = [f"  - {a.model} via {a.provider}: {a.error}" for a in attempts]
    count = len(attempts)
    message = (
        f"every model tried for this call failed ({models}; {count} attempt{'s' if count != 1 else ''}). "
        f"{_advice(errors)}:\n" + "\n".join(lines)
    )
    return CallFailed(message, attempts=attempts, model=candidates[0].model)


def _retry_after(error: AgentRTError) -> float:
    retry_after = getattr(error, "retry_after", None)
    return float("inf") if retry_after is None else float(retry_after)


def _advice(errors: list[AgentRTError]) -> str:
    """What to do, from the kinds of error seen: never "check credentials" for a rate limit."""
    advice: list[str] = []
    if any(isinstance(e, ProviderRateLimited) for e in errors):
        advice.append("wait and try again (a provider is rate limiting)")
    if any(isinstance(e, ProviderUnavailable | ProviderTimeout | CircuitOpen) for e in errors):
        advice.append("check the providers' status")
    if any(isinstance(e, ProviderAuthError) for e in errors):
        advice.append("check the providers' credentials")
    if any(isinstance(e, ProviderQuotaExceeded) for e in errors):
        advice.append("check the provider account's credit or quota")
    if any(isinstance(e, ContextLengthExceeded) for e in errors):
        advice.append("shorten the input or call a model with a larger context window")
    if any(isinstance(e, PolicyError) for e in errors):
        advice.append("see the policy refusals below")
    text = "; ".join([*advice, "or add fallback models"]) if advice else "add fallback models"
    return text[0].upper() + text[1:]
