"""Prometheus metrics, one registry per runtime.

A registry per runtime (not the process-global default) keeps two runtimes in
one process, and consecutive tests, from sharing counters. Label children are
cached per label tuple: ``labels()`` costs a dict lookup and a lock in
prometheus_client, and it runs on every model call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["CallMetrics", "Metrics"]

# Seconds; model calls range from a few ms (cached, local) to minutes (long generations).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """The runtime's metric registry; each part adds its own family of metrics to it."""

    def __init__(self, *, enabled: bool = True) -> None:
        from prometheus_client import CollectorRegistry

        self.enabled = enabled
        self.registry: CollectorRegistry = CollectorRegistry(auto_describe=True)
        self.calls = CallMetrics(self.registry) if enabled else None

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class CallMetrics:
    """What every model call records: count by outcome, tokens, cost, latency, retries, fallbacks."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self._calls = Counter(
            "agentrt_model_calls",
            "Model calls by outcome.",
            ["model", "provider", "operation", "outcome"],
            registry=registry,
        )
        self._tokens = Counter(
            "agentrt_model_tokens",
            "Tokens used by model calls.",
            ["model", "provider", "direction"],
            registry=registry,
        )
        self._cost = Counter(
            "agentrt_model_cost_usd",
            "Cost of model calls in USD (calls with a known price).",
            ["model", "provider"],
            registry=registry,
        )
        self._latency = Histogram(
            "agentrt_model_call_seconds",
            "Latency of model calls, retries and fallbacks included.",
            ["model", "provider", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._retries = Counter(
            "agentrt_model_retries",
            "Attempts that failed and were retried or fell back.",
            ["model", "provider"],
            registry=registry,
        )
        self._fallbacks = Counter(
            "agentrt_model_fallbacks",
            "Calls answered by a fallback model.",
            ["requested", "served"],
            registry=registry,
        )
        self._breaker_state = Gauge(
            "agentrt_provider_breaker_state",
            "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=registry,
        )
        self._breaker_changes = Counter(
            "agentrt_provider_breaker_transitions",
            "Circuit breaker state changes.",
            ["provider", "to"],
            registry=registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def record_success(
        self,
        *,
        model: str,
        provider: str,
        operation: str,
        input_tokens: int,
        output_tokens: int,
        cost: float | None,
        latency: float,
        outcome: str = "ok",  # "cancelled": a stream left early, charged for what it delivered
    ) -> None:
        self._child(self._calls, model, provider, operation, outcome).inc()
        if input_tokens:
            self._child(self._tokens, model, provider, "input").inc(input_tokens)
        if output_tokens:
            self._child(self._tokens, model, provider, "output").inc(output_tokens)
        if cost:
            self._child(self._cost, model, provider).inc(cost)
        self._child(self._latency, model, provider, operation).observe(latency)

    def record_failure(self, *, model: str, provider: str, operation: str, error_type: str, latency: float) -> None:
        self._child(self._calls, model, provider, operation, error_type).inc()
        self._child(self._latency, model, provider, operation).observe(latency)

    def record_failed_attempt(self, *, model: str, provider: str) -> None:
        self._child(self._retries, model, provider).inc()

    def record_fallback(self, *, requested: str, served: str) -> None:
        self._child(self._fallbacks, requested, served).inc()

    def breaker_changed(self, provider: str, old: object, new: object) -> None:
        """A ``BreakerListener``: keeps the breaker state gauge and transition count."""
        state = str(new)
        self._breaker_state.labels(provider).set(_BREAKER_LEVELS.get(state, -1))
        self._breaker_changes.labels(provider, state).inc()

    def breaker_known(self, provider: str) -> None:
        """Show a provider's breaker as closed from the start, before any change."""
        self._breaker_state.labels(provider).set(0)


_BREAKER_LEVELS = {"closed": 0, "half_open": 1, "open": 2}
