"""Prometheus metrics per deployment, read from the routing stats when scraped (a call updates no metric).

``agentrt_deployment_tries_total{model, deployment, outcome}`` (ok, error, busy: skipped at its rpm/tpm),
``agentrt_deployment_in_flight{model, deployment}`` and ``agentrt_deployment_latency_seconds{model, deployment}``
(the moving average the ``latency`` strategy reads).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from agentrt.routing.stats import DeploymentStats

__all__ = ["DeploymentCollector"]


class DeploymentCollector:
    """A Prometheus collector over ``stats``; registered on ``registry``."""

    def __init__(self, stats: DeploymentStats, registry: CollectorRegistry) -> None:
        self._stats = stats
        registry.register(self)

    def describe(self) -> list[Any]:
        return list(self._families([]))

    def collect(self) -> Iterator[Any]:
        return self._families(list(self._stats))

    @staticmethod
    def _families(states: list[Any]) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        tries = CounterMetricFamily(
            "agentrt_deployment_tries",
            "Tries of each deployment of a model: ok, error, or busy (skipped at its rpm/tpm).",
            labels=["model", "deployment", "outcome"],
        )
        in_flight = GaugeMetricFamily(
            "agentrt_deployment_in_flight", "Calls in flight on each deployment.", labels=["model", "deployment"]
        )
        latency = GaugeMetricFamily(
            "agentrt_deployment_latency_seconds",
            "Moving average of each deployment's time to first token (a plain call's latency).",
            labels=["model", "deployment"],
        )
        for state in states:
            if not state.label:
                continue
            for outcome, count in (("ok", state.ok), ("error", state.errors), ("busy", state.busy)):
                if count:
                    tries.add_metric([state.model, state.label, outcome], count)
            in_flight.add_metric([state.model, state.label], state.in_flight)
            if state.latency is not None:
                latency.add_metric([state.model, state.label], state.latency)
        yield tries
        yield in_flight
        yield latency
