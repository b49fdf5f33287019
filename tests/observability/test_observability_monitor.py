"""The resource monitor: process metrics, event-loop lag and tasks."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, generate_latest

from agentrt.observability import ResourceMonitor


async def test_the_monitor_sees_a_blocked_loop_and_reports_process_figures() -> None:
    registry = CollectorRegistry()
    monitor = ResourceMonitor(registry, interval=60)
    await monitor.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.8)  # noqa: ASYNC251 - blocking the loop on purpose: the probe must see it
        await asyncio.sleep(0.6)
    finally:
        await monitor.stop()
    assert monitor.max_lag > 0.2
    sample = monitor.sample()
    assert sample["rss_bytes"] > 10_000_000
    assert sample["open_files"] > 0
    assert sample["tasks"] >= 1
    text = generate_latest(registry).decode()
    assert "agentrt_event_loop_lag_max_seconds" in text
    assert "process_resident_memory_bytes" in text
    assert "agentrt_asyncio_tasks" in text


async def test_stop_is_harmless_twice_and_before_start() -> None:
    monitor = ResourceMonitor(None, interval=1)
    await monitor.stop()
    await monitor.start()
    await monitor.stop()
    await monitor.stop()
