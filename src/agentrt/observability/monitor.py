"""The resource monitor: memory, CPU, open files, event-loop lag and tasks, as metrics and a log line.

Process memory, CPU and open files come from prometheus_client's process
collector (Linux /proc). What it cannot see — how late the event loop runs and
how many tasks exist — is sampled here: a probe sleeps a known time and the
overshoot is the lag, which is what every request queued behind a blocking
call pays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
from time import perf_counter
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["ResourceMonitor"]

_PROBE_INTERVAL = 0.5  # seconds between two lag probes


class ResourceMonitor:
    """Samples the process every ``interval`` seconds (lag every half second) until stopped."""

    def __init__(self, registry: CollectorRegistry | None, *, interval: float) -> None:
        from prometheus_client import Gauge, ProcessCollector

        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._log = structlog.get_logger("agentrt.observability.monitor")
        self.max_lag = 0.0
        self.last_lag = 0.0
        if registry is not None:
            ProcessCollector(registry=registry)
        self._lag = Gauge(
            "agentrt_event_loop_lag_seconds",
            "How late the event loop ran a timer at the last probe.",
            registry=registry,
        )
        self._max_lag = Gauge(
            "agentrt_event_loop_lag_max_seconds",
            "The largest event-loop lag seen since the last report.",
            registry=registry,
        )
        self._tasks = Gauge("agentrt_asyncio_tasks", "asyncio tasks alive in the runtime's loop.", registry=registry)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="agentrt-resource-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def sample(self) -> dict[str, float]:
        """The current figures: also what the periodic debug line says."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        tasks = len(asyncio.all_tasks())
        self._tasks.set(tasks)
        return {
            "rss_bytes": _rss_bytes(),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "open_files": _open_files(),
            "tasks": tasks,
            "loop_lag_ms": round(self.last_lag * 1000, 3),
            "loop_lag_max_ms": round(self.max_lag * 1000, 3),
        }

    async def _run(self) -> None:
        next_report = perf_counter() + self.interval
        while True:
            started = perf_counter()
            await asyncio.sleep(_PROBE_INTERVAL)
            lag = max(0.0, perf_counter() - started - _PROBE_INTERVAL)
            self.last_lag = lag
            self.max_lag = max(self.max_lag, lag)
            self._lag.set(lag)
            self._max_lag.set(self.max_lag)
            if perf_counter() >= next_report:
                self._log.debug("resource_usage", **self.sample())
                self.max_lag = 0.0
                next_report = perf_counter() + self.interval


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak is the best the standard library offers
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _open_files() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1
