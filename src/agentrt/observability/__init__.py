"""Metrics (Prometheus) for the runtime; traces and the resource monitor build on this later."""

from agentrt.observability.metrics import CallMetrics, Metrics

__all__ = ["CallMetrics", "Metrics"]
