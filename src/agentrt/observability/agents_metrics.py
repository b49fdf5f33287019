"""Agent metrics, read from the agents' own statistics when Prometheus scrapes.

Nothing is counted on the hot path: every agent already keeps its counters
(processed, failed, busy time, restarts, queue depth), and this collector sums
them by agent type at scrape time. Labels are agent types, never agent ids,
which are unbounded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["AgentsCollector"]


class _Agents(Protocol):
    def list(self) -> Any: ...

    def stats(self, agent_id: str) -> Any: ...


class AgentsCollector(Collector):
    """Mailbox depth, agents by status, processed/failed activities, busy time and restarts by type."""

    def __init__(self, agents: _Agents) -> None:
        self._agents = agents

    def collect(self) -> Iterator[Any]:
        by_status: dict[tuple[str, str], int] = defaultdict(int)
        depth: dict[str, int] = defaultdict(int)
        totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])
        for info in self._agents.list():
            stats = self._agents.stats(info.id)
            by_status[(info.type, str(info.status.value).lower())] += 1
            depth[info.type] += stats.mailbox.depth
            total = totals[info.type]
            total[0] += stats.mailbox.processed
            total[1] += stats.mailbox.failed
            total[2] += stats.mailbox.processing_seconds
            total[3] += stats.restarts
        agents = GaugeMetricFamily("agentrt_agents", "Agents by type and status.", labels=["type", "status"])
        for (kind, status), count in sorted(by_status.items()):
            agents.add_metric([kind, status], count)
        queued = GaugeMetricFamily(
            "agentrt_agent_mailbox_depth", "Activities waiting in the mailboxes, by agent type.", labels=["type"]
        )
        processed = CounterMetricFamily("agentrt_agent_activities", "Activities processed.", labels=["type"])
        failed = CounterMetricFamily("agentrt_agent_failures", "Activities whose handler raised.", labels=["type"])
        busy = CounterMetricFamily("agentrt_agent_processing_seconds", "Time spent in handlers.", labels=["type"])
        restarts = CounterMetricFamily("agentrt_agent_restarts", "Restarts by the supervisor.", labels=["type"])
        for kind in sorted(totals):
            queued.add_metric([kind], depth[kind])
            processed.add_metric([kind], totals[kind][0])
            failed.add_metric([kind], totals[kind][1])
            busy.add_metric([kind], totals[kind][2])
            restarts.add_metric([kind], totals[kind][3])
        yield from (agents, queued, processed, failed, busy, restarts)
