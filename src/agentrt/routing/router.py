"""The router: a model's deployments in the order its strategy picks, and what the strategies learn.

``Router.order(spec)`` runs on every call: for a plain model it returns
``[spec]`` at once; for a model with deployments, a sort of a few numbers kept
in memory (no I/O: the ``usage`` strategy's counters are refreshed in a
background task). The pipeline then tries the deployments in that order,
holding each one's rpm/tpm (:class:`~agentrt.routing.limits.DeploymentLimits`)
before its policy admission, and going on to the next when one is busy or fails.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from random import Random
from typing import TYPE_CHECKING, TypeVar

import structlog

from agentrt.routing._metrics import DeploymentMetrics
from agentrt.routing.limits import DeploymentLimits
from agentrt.routing.stats import USAGE_REFRESH, DeploymentStats
from agentrt.routing.strategies import order_deployments

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from agentrt.models import ModelSpec
    from agentrt.policy.backends.base import PolicyBackend

__all__ = ["Router"]

T = TypeVar("T")
E = TypeVar("E")


class Router:
    """Orders deployments, holds their limits, and keeps their in-flight counts and latencies.

    ``backend`` is the policy backend the deployments' rpm/tpm are counted on
    (None: a private in-memory one, for this process only). ``rng`` makes the
    shuffle reproducible in tests; ``clock`` (epoch seconds) drives the windows;
    ``registry`` gets the per-deployment metrics (:mod:`agentrt.routing._metrics`).
    """

    __slots__ = ("_metrics", "_refreshed", "_refreshing", "_rng", "limits", "stats")

    def __init__(
        self,
        backend: PolicyBackend | None = None,
        *,
        rng: Random | None = None,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._metrics = DeploymentMetrics(registry) if registry is not None else None
        self.limits = DeploymentLimits(backend, clock=clock)
        if self._metrics is not None:
            self.limits.on_busy = partial(self._metrics.record, outcome="busy")
        self.stats = DeploymentStats()
        self._rng = rng if rng is not None else Random()
        self._refreshed: dict[str, float] = {}
        self._refreshing: set[asyncio.Task[None]] = set()

    def order(self, spec: ModelSpec) -> list[ModelSpec]:
        """The specs a call to ``spec`` tries, in order: its deployments', or ``spec`` alone."""
        deployments = spec.deployments
        if not deployments:
            return [spec]
        if spec.routing == "usage":
            self._refresh_soon(spec)
        return order_deployments(spec.routing, deployments, self.stats, self._rng)

    def timed(self, spec: ModelSpec, fn: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """A try on ``spec``'s deployment, counted in flight and timed (for ``least-busy`` and ``latency``)."""
        assert spec.deployment is not None
        timed = self.stats.timed(spec.deployment.key, fn)
        metrics = self._metrics
        if metrics is None:
            return timed
        state = self.stats.get(spec.deployment.key)

        async def measured() -> T:
            try:
                result = await timed()
            except Exception:
                metrics.record(spec, "error")
                raise
            metrics.record(spec, "ok", state.latency)
            return result

        return measured

    def timed_stream(self, spec: ModelSpec, fn: Callable[[], AsyncIterator[E]]) -> Callable[[], AsyncIterator[E]]:
        """A stream from ``spec``'s deployment, counted in flight until it ends, its first event timed."""
        assert spec.deployment is not None
        timed = self.stats.timed_stream(spec.deployment.key, fn)
        metrics = self._metrics
        if metrics is None:
            return timed
        state = self.stats.get(spec.deployment.key)

        async def measured() -> AsyncIterator[E]:
            opened = False
            try:
                async for event in timed():
                    if not opened:
                        opened = True
                        metrics.record(spec, "ok", state.latency)
                    yield event
            except Exception:
                if not opened:  # a stream failing later is the reader's error; the try itself succeeded
                    metrics.record(spec, "error")
                raise

        return measured

    async def refresh_usage(self, spec: ModelSpec) -> None:
        """Read what is left of each of ``spec``'s deployments' rpm/tpm from the backend (for ``usage``)."""
        limited = [d for d in spec.deployments if d.deployment is not None and d.deployment.limited]
        if not limited:
            return
        keys = [d.deployment.key for d in limited if d.deployment is not None]
        backend = self.limits.backend
        now = time.time()
        snapshot = await backend.snapshot(keys, [], now)
        for deployment_spec in limited:
            deployment = deployment_spec.deployment
            assert deployment is not None
            window = snapshot.windows.get(deployment.key)
            if window is None:
                continue
            left = 1.0
            if deployment.rpm is not None:
                left = min(left, 1.0 - window.requests / deployment.rpm)
            if deployment.tpm is not None:
                left = min(left, 1.0 - window.tokens / deployment.tpm)
            self.stats.get(deployment.key).left = left

    def _refresh_soon(self, spec: ModelSpec) -> None:
        now = time.monotonic()
        if now - self._refreshed.get(spec.name, -USAGE_REFRESH) < USAGE_REFRESH:
            return
        self._refreshed[spec.name] = now
        try:
            task = asyncio.get_running_loop().create_task(self._refresh_quietly(spec))
        except RuntimeError:  # no loop (a synchronous caller): the order uses what it has
            return
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refresh_quietly(self, spec: ModelSpec) -> None:
        try:
            await self.refresh_usage(spec)
        except Exception as err:  # the order only gets less informed; the holds stay exact
            structlog.get_logger("agentrt.routing").warning(
                "deployment_usage_unread", model=spec.name, error_type=type(err).__name__, error=str(err)
            )

    async def close(self) -> None:
        """Wait for the refreshes under way and close a private backend."""
        for task in list(self._refreshing):
            task.cancel()
        await self.limits.close()
