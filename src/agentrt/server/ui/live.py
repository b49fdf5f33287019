"""The live numbers of the overview: a ring buffer of samples of the in-process call metrics.

Every ``interval`` seconds the sampler reads the runtime's Prometheus
registry (the call counters, the cost counter and the latency histogram,
summed over their labels) and keeps the last 15 minutes of samples. Rates
and percentiles come from the difference of two samples: calls/s, errors/s,
USD/s, p50/p95 latency over the interval (interpolated within the histogram's
buckets, as Prometheus' ``histogram_quantile`` does). No database is read:
the live parts cost nothing beyond one walk of the registry per interval.

The sampler also notes when it first sees each configuration version, which
is the overview's "last reload" time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LivePoint", "Sample", "Sampler", "quantile", "read_sample"]

WINDOW = 900.0
"""Seconds of history kept: the last 15 minutes."""

_CALLS = "agentrt_model_calls"
_COST = "agentrt_model_cost_usd"
_LATENCY = "agentrt_model_call_seconds"
_NOT_ERRORS = frozenset({"ok", "cancelled"})


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counts at one moment; ``buckets`` maps each ``le`` bound to its cumulative count.
    ``models`` holds the same latency buckets per ``model@provider``."""

    ts: float
    calls: float
    errors: float
    cost: float
    buckets: tuple[tuple[float, float], ...]
    models: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LivePoint:
    """The rates between two samples (at ``ts``, the later one's time); latencies in seconds, None when no call."""

    ts: float
    calls_per_s: float
    errors_per_s: float
    cost_per_s: float
    p50: float | None
    p95: float | None
    calls: int = 0
    """Calls (and errors) between the two samples."""
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "calls": self.calls,
            "errors": self.errors,
            "calls_per_s": self.calls_per_s,
            "errors_per_s": self.errors_per_s,
            "cost_per_s": self.cost_per_s,
            "p50": self.p50,
            "p95": self.p95,
        }


def read_sample(registry: Any, now: float) -> Sample:
    """Sum the call metrics of a ``CollectorRegistry`` into one :class:`Sample`."""
    calls = errors = cost = 0.0
    buckets: dict[float, float] = {}
    models: dict[str, dict[float, float]] = {}
    for family in registry.collect():
        name = family.name
        if name == _CALLS:
            for s in family.samples:
                if s.name.endswith("_total"):
                    calls += s.value
                    if s.labels.get("outcome") not in _NOT_ERRORS:
                        errors += s.value
        elif name == _COST:
            cost += sum(s.value for s in family.samples if s.name.endswith("_total"))
        elif name == _LATENCY:
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    le = float(s.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + s.value
                    per_model = models.setdefault(f"{s.labels.get('model')}@{s.labels.get('provider')}", {})
                    per_model[le] = per_model.get(le, 0.0) + s.value
    return Sample(
        now,
        calls,
        errors,
        cost,
        tuple(sorted(buckets.items())),
        {key: tuple(sorted(value.items())) for key, value in models.items()},
    )


def quantile(q: float, older: Iterable[tuple[float, float]], newer: Iterable[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of the observations between two cumulative histograms; None when there are none."""
    before = dict(older)
    counts = [(le, count - before.get(le, 0.0)) for le, count in newer]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= rank:
            if math.isinf(le):
                return lower  # past the last finite bound: its bound is the best we know
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = le, cumulative
    return lower


def point(older: Sample, newer: Sample) -> LivePoint:
    span = max(newer.ts - older.ts, 1e-9)
    return LivePoint(
        newer.ts,
        max(newer.calls - older.calls, 0.0) / span,
        max(newer.errors - older.errors, 0.0) / span,
        max(newer.cost - older.cost, 0.0) / span,
        quantile(0.5, older.buckets, newer.buckets),
        quantile(0.95, older.buckets, newer.buckets),
        int(max(newer.calls - older.calls, 0.0)),
        int(max(newer.errors - older.errors, 0.0)),
    )


class Sampler:
    """Samples ``registry`` every ``interval`` seconds into a ring buffer of the last :data:`WINDOW` seconds."""

    def __init__(self, registry: Any, *, interval: float = 5.0, version: Any = None) -> None:
        self._registry = registry
        self.interval = interval
        self._samples: deque[Sample] = deque(maxlen=int(WINDOW / interval) + 1)
        self._task: asyncio.Task[None] | None = None
        self._tick = asyncio.Event()
        self._version = version  # a callable giving the config version, to note reload times
        self.versions: dict[int, float] = {}

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self.sample()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="agentrt-ui-sampler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.sample()

    def sample(self, now: float | None = None) -> None:
        """Take one sample now, and wake whoever waits for the next point."""
        now = time.time() if now is None else now
        self._samples.append(read_sample(self._registry, now))
        if self._version is not None:
            self.versions.setdefault(int(self._version()), now)
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def next_point(self) -> LivePoint | None:
        """Wait for the next sample; its point (None until there are two samples)."""
        await self._tick.wait()
        return self.latest()

    def latest(self) -> LivePoint | None:
        if len(self._samples) < 2:
            return None
        return point(self._samples[-2], self._samples[-1])

    def points(self) -> list[LivePoint]:
        """One point per interval over the last 15 minutes, oldest first."""
        samples = list(self._samples)
        return [point(a, b) for a, b in itertools.pairwise(samples)]

    def window(self) -> dict[str, Any]:
        """Totals over the whole buffer (calls, errors, cost, p50/p95), and the same per ``model@provider``."""
        if len(self._samples) < 2:
            return {"seconds": 0.0, "calls": 0, "errors": 0, "cost": 0.0, "p50": None, "p95": None, "models": {}}
        first, last = self._samples[0], self._samples[-1]
        models = {
            key: {
                "calls": int(buckets[-1][1] - dict(first.models.get(key, ())).get(buckets[-1][0], 0.0)),
                "p50": quantile(0.5, first.models.get(key, ()), buckets),
                "p95": quantile(0.95, first.models.get(key, ()), buckets),
            }
            for key, buckets in last.models.items()
            if buckets
        }
        return {
            "seconds": last.ts - first.ts,
            "calls": int(last.calls - first.calls),
            "errors": int(last.errors - first.errors),
            "cost": last.cost - first.cost,
            "p50": quantile(0.5, first.buckets, last.buckets),
            "p95": quantile(0.95, first.buckets, last.buckets),
            "models": models,
        }
