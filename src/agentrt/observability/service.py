"""The observability services: metrics registry, tracer and resource monitor."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.config import Config
from agentrt.observability.metrics import Metrics
from agentrt.observability.monitor import ResourceMonitor
from agentrt.observability.tracing import Tracing
from agentrt.services import service

__all__ = ["metrics_service", "monitor_service", "tracing_service"]


@service(name="metrics", version="1")
async def metrics_service(config: Config) -> AsyncIterator[Metrics]:
    yield Metrics(enabled=config.observability.metrics.enabled)


@service(name="tracing", version="1")
async def tracing_service(config: Config) -> AsyncIterator[Tracing]:
    """Spans for calls, attempts, tool calls and agent activities; flushed when the runtime stops."""
    tracing = Tracing(config.observability.tracing, service_name=config.runtime.name)
    try:
        yield tracing
    finally:
        tracing.shutdown()


@service(name="monitor", version="1")
async def monitor_service(config: Config, metrics: Metrics) -> AsyncIterator[ResourceMonitor]:
    """Memory, CPU, open files, event-loop lag and tasks, sampled while the runtime runs."""
    section = config.observability.monitor
    monitor = ResourceMonitor(metrics.registry if metrics.enabled else None, interval=section.interval)
    if section.enabled:
        await monitor.start()
    try:
        yield monitor
    finally:
        await monitor.stop()
