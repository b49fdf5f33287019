"""Observability: Prometheus metrics, OpenTelemetry spans, and the resource monitor."""

from agentrt.observability.metrics import CallMetrics, Metrics
from agentrt.observability.monitor import ResourceMonitor
from agentrt.observability.tracing import Tracing

__all__ = ["CallMetrics", "Metrics", "ResourceMonitor", "Tracing"]
