"""Prometheus metrics of governed tool calls: calls by tool, decision and outcome; latency; approvals waiting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["ToolMetrics"]

# Seconds: tools range from a calculator (µs) to an MCP server on the network or a person approving (minutes).
_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300)


class ToolMetrics:
    """``agentrt_tool_calls_total``, ``agentrt_tool_call_seconds``, ``agentrt_tool_approvals_pending``.

    Label children are cached per label tuple, as the model-call metrics do: this runs on every tool call.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self._calls = Counter(
            "agentrt_tool_calls",
            "Tool calls by tool, policy/approval decision (allow, deny, approved, rejected, timeout) and outcome.",
            ["tool", "decision", "outcome"],
            registry=registry,
        )
        self._latency = Histogram(
            "agentrt_tool_call_seconds",
            "Duration of tool calls, approval wait included.",
            ["tool"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self._pending = Gauge(
            "agentrt_tool_approvals_pending", "Tool calls parked, waiting for approval.", registry=registry
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def record(self, tool: str, decision: str, outcome: str, seconds: float) -> None:
        self._child(self._calls, tool, decision, outcome).inc()
        self._child(self._latency, tool).observe(seconds)

    def pending(self, count: int) -> None:
        self._pending.set(count)
