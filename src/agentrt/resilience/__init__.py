"""Resilience of model calls: retries, timeouts, circuit breakers, concurrency limits and fallbacks.

One :class:`ProviderGuard` per provider protects every call to it::

    breaker check -> concurrency slot -> asyncio.timeout -> the call -> outcome on the breaker

and retries retryable failures with exponential backoff (tenacity, entered
only after a first failure, so a call that succeeds at once pays for none of
it). :func:`run_plan` and :func:`stream_plan` try a model and then its
fallbacks, each through its provider's guard.

Example::

    guard = ProviderGuard.from_section("openai", config.providers["openai"])
    attempts: list[Attempt] = []
    response, index = await run_plan(
        [Candidate("gpt-4o-mini", guard, lambda: client.complete(request)),
         Candidate("claude-haiku", anthropic_guard, lambda: other.complete(request2))],
        attempts=attempts,
    )
"""

from agentrt.resilience.breaker import BreakerListener, CircuitBreaker, CircuitState
from agentrt.resilience.guard import ProviderGuard, Sleep
from agentrt.resilience.limit import ConcurrencyLimit
from agentrt.resilience.plan import Candidate, StreamCandidate, run_plan, stream_plan
from agentrt.resilience.retry import RetryPolicy, is_retryable, requested_wait
from agentrt.resilience.stream import GuardedStream

__all__ = [
    "BreakerListener",
    "Candidate",
    "CircuitBreaker",
    "CircuitState",
    "ConcurrencyLimit",
    "GuardedStream",
    "ProviderGuard",
    "RetryPolicy",
    "Sleep",
    "StreamCandidate",
    "is_retryable",
    "requested_wait",
    "run_plan",
    "stream_plan",
]
