"""HTTP metrics on the runtime's Prometheus registry: requests by route and status, and latency.

The ``route`` label is the route's template (``/v1/agents/{agent_id}``), never
the raw path, so the number of series stays bounded whatever clients send;
requests that match no route share the label ``unmatched``. ``status`` 499
counts requests whose handler was cancelled (the client or a shutdown ended
them before an answer).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from agentrt.observability import Metrics

__all__ = ["UNMATCHED", "HttpMetrics", "http_metrics"]

UNMATCHED = "unmatched"

# Seconds: from a health check (well under a millisecond) to a long streamed generation.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

# One HttpMetrics per registry: several apps on one runtime (tests, a restart of the app)
# must share the families, which a registry accepts only once.
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, HttpMetrics] = weakref.WeakKeyDictionary()


class HttpMetrics:
    """``agentrt_http_requests_total{route,method,status}`` and ``agentrt_http_request_seconds{route,method}``."""

    __slots__ = ("_children", "_latency", "_requests")

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self._requests = Counter(
            "agentrt_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "agentrt_http_request_seconds",
            "HTTP request latency by route template and method (a stream: to its end).",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=registry,
        )
        # labels() takes a lock and builds a key: cache the children, this runs on every request.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route, method),
            )
        children[0].inc()
        children[1].observe(seconds)


def http_metrics(metrics: Metrics) -> HttpMetrics | None:
    """The HTTP metrics on ``metrics``' registry (created once); None when metrics are disabled."""
    if not metrics.enabled:
        return None
    found = _by_registry.get(metrics.registry)
    if found is None:
        found = _by_registry[metrics.registry] = HttpMetrics(metrics.registry)
    return found
