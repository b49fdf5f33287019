"""Prometheus metrics per deployment: tries by outcome, skips at the limit, and the latency average."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from agentrt.models import ModelSpec

__all__ = ["DeploymentMetrics"]


class DeploymentMetrics:
    """``agentrt_deployment_tries_total{model, deployment, outcome}`` (ok, error, busy) and
    ``agentrt_deployment_latency_seconds{model, deployment}`` (the moving average the ``latency`` strategy reads)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge

        self._tries = Counter(
            "agentrt_deployment_tries",
            "Tries of each deployment of a model: ok, error, or busy (skipped at its rpm/tpm).",
            ["model", "deployment", "outcome"],
            registry=registry,
        )
        self._latency = Gauge(
            "agentrt_deployment_latency_seconds",
            "Moving average of each deployment's time to first token (a plain call's latency).",
            ["model", "deployment"],
            registry=registry,
        )
        self._children: dict[tuple[str, str, str], Any] = {}

    def record(self, spec: ModelSpec, outcome: str, latency: float | None = None) -> None:
        deployment = spec.deployment
        if deployment is None:
            return
        key = (spec.name, deployment.label, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._tries.labels(*key)
        child.inc()
        if latency is not None:
            self._latency.labels(spec.name, deployment.label).set(latency)
