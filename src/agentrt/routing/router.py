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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from random import Random
from typing import TYPE_CHECKING, TypeVar

import structlog

from agentrt.routing._metrics import DeploymentCollector
from agentrt.routing.limits import DeploymentLimits
from agentrt.routing.stats import USAGE_REFRESH, DeploymentStats
from agentrt.routing.strategies import ShuffledDeployments, cumulative_weights, order_deployments

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

    __slots__ = ("_cumulative", "_refreshed", "_refreshing", "_rng", "limits", "stats")

    def __init__(
        self,
        backend: PolicyBackend | None = None,
        *,
        rng: Random | None = None,
        clock: Callable[[], float] = time.time,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.limits = DeploymentLimits(backend, clock=clock)
        self.limits.on_busy = self._busy
        self.stats = DeploymentStats()
        if registry is not None:
            DeploymentCollector(self.stats, registry)
        self._rng = rng if rng is not None else Random()
        self._refreshed: dict[str, float] = {}
        self._cumulative: dict[str, tuple[tuple[ModelSpec, ...], tuple[float, ...]]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()

    def order(self, spec: ModelSpec) -> Sequence[ModelSpec]:
        """The specs a call to ``spec`` tries, in order: its deployments', or ``spec`` alone.

        The default ``shuffle`` is drawn as far as the call reads it (:class:`ShuffledDeployments`)."""
        deployments = spec.deployments
        if not deployments:
            return [spec]
        strategy = spec.routing
        if strategy == "shuffle":
            cumulative = self._cumulative.get(spec.name)
            if cumulative is None or cumulative[0] is not deployments:  # a reload made new specs
                cumulative = self._cumulative[spec.name] = (deployments, cumulative_weights(deployments))
            return ShuffledDeployments(deployments, cumulative[1], self._rng)
        if strategy == "usage":
            self._refresh_soon(spec)
        return order_deployments(strategy, deployments, self.stats, self._rng)

    def timed(self, spec: ModelSpec, fn: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """A try on ``spec``'s deployment, counted in flight and timed (for ``least-busy`` and ``latency``)."""
        deployment = spec.deployment
        assert deployment is not None
        return self.stats.timed(deployment.key, fn, spec.name, deployment.label)

    def timed_stream(self, spec: ModelSpec, fn: Callable[[], AsyncIterator[E]]) -> Callable[[], AsyncIterator[E]]:
        """A stream from ``spec``'s deployment, counted in flight until it ends, its first event timed."""
        deployment = spec.deployment
        assert deployment is not None
        return self.stats.timed_stream(deployment.key, fn, spec.name, deployment.label)

    def _busy(self, spec: ModelSpec) -> None:
        deployment = spec.deployment
        if deployment is not None:
            self.stats.get(deployment.key, spec.name, deployment.label).busy += 1

    async def refresh_usage(self, spec: ModelSpec) -> None:
        """Read what is left of each of ``spec``'s deployments' rpm/tpm from the backend (for ``usage``)."""
        limited = [d for d in spec.deployments if d.deployment is not None and d.deployment.limited]
        if not limited:
            return
        keys = [d.deployment.key for d in limited if d.deployment is not None]
        snapshot = await self.limits.windows(keys)
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
