"""The routing strategies: each puts a model's deployments in the order a call tries them.

Every strategy breaks its ties with the weighted shuffle, so equal deployments
share the calls by weight rather than the first one taking them all.

- ``shuffle``: a weighted random order (Efraimidis-Spirakis: each deployment
  draws ``u ** (1 / weight)``, highest first), so a deployment comes first in
  proportion to its weight.
- ``least-busy``: fewest calls in flight (in this process) first.
- ``latency``: lowest moving average of time to first token first; one with
  no sample yet first of all, so it gets measured.
- ``usage``: the most of its rpm/tpm left first.
- ``cost``: cheapest (input + output price) first; unpriced last.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from math import log
from random import Random
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from agentrt.models import ModelSpec, RoutingStrategy
    from agentrt.routing.stats import DeploymentStats

__all__ = ["STRATEGIES", "ShuffledDeployments", "cumulative_weights", "order_deployments"]

Key = Callable[["ModelSpec", "DeploymentStats"], float]


def _least_busy(spec: ModelSpec, stats: DeploymentStats) -> float:
    return float(stats.get(_key(spec)).in_flight)


def _latency(spec: ModelSpec, stats: DeploymentStats) -> float:
    latency = stats.get(_key(spec)).latency
    return -1.0 if latency is None else latency


def _usage(spec: ModelSpec, stats: DeploymentStats) -> float:
    return -stats.get(_key(spec)).left


def _cost(spec: ModelSpec, stats: DeploymentStats) -> float:
    price = spec.pricing
    return math.inf if price is None else price.input + price.output


def _key(spec: ModelSpec) -> str:
    deployment = spec.deployment
    assert deployment is not None
    return deployment.key


STRATEGIES: dict[str, Key | None] = {
    "shuffle": None,
    "least-busy": _least_busy,
    "latency": _latency,
    "usage": _usage,
    "cost": _cost,
}
"""Each strategy's sort key (lowest first); ``shuffle`` has none: the weighted draw alone decides."""


def order_deployments(
    strategy: RoutingStrategy, deployments: Sequence[ModelSpec], stats: DeploymentStats, rng: Random
) -> list[ModelSpec]:
    """``deployments`` in the order ``strategy`` tries them; ties broken by the weighted shuffle."""
    if len(deployments) == 1:
        return [deployments[0]]
    draw = rng.random
    key = STRATEGIES[strategy]
    # log(u) / w orders like u ** (1 / w) (Efraimidis-Spirakis), without the power: highest first. Every
    # deployment spec has its deployment (the catalog makes them so); the sort keys stay inline: they run
    # eight times a call.
    if key is None:
        return sorted(
            deployments,
            key=lambda spec: log(draw() or _TINY) / spec.deployment.weight,  # type: ignore[union-attr]
            reverse=True,
        )
    return sorted(
        deployments,
        key=lambda spec: (key(spec, stats), -log(draw() or _TINY) / spec.deployment.weight),  # type: ignore[union-attr]
    )


_TINY = 5e-324  # random() may return 0.0, whose log is undefined


class ShuffledDeployments(Sequence["ModelSpec"]):
    """A weighted shuffle of ``deployments`` drawn as far as it is read: the first by one weighted draw
    (most calls read no further), the rest by the weighted shuffle of the others when the call goes on.

    ``cumulative`` is the running sum of the deployments' weights (see :func:`cumulative_weights`).
    The order has the distribution of :func:`order_deployments`'s ``shuffle``.
    """

    __slots__ = ("_deployments", "_first", "_order", "_rng")

    def __init__(self, deployments: Sequence[ModelSpec], cumulative: Sequence[float], rng: Random) -> None:
        self._deployments = deployments
        self._rng = rng
        # A draw of the first: P(i) = w_i / sum(w), as the first of an Efraimidis-Spirakis order.
        index = bisect_right(cumulative, rng.random() * cumulative[-1])
        self._first = min(index, len(deployments) - 1)
        self._order: list[ModelSpec] | None = None

    def __len__(self) -> int:
        return len(self._deployments)

    @overload
    def __getitem__(self, index: int) -> ModelSpec: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ModelSpec]: ...

    def __getitem__(self, index: int | slice) -> ModelSpec | Sequence[ModelSpec]:
        deployments, first = self._deployments, self._first
        if index == 0:
            return deployments[first]
        order = self._order
        if order is None:
            rest = [spec for i, spec in enumerate(deployments) if i != first]
            order = self._order = [deployments[first], *order_deployments("shuffle", rest, _NO_STATS, self._rng)]
        return order[index]


def cumulative_weights(deployments: Sequence[ModelSpec]) -> tuple[float, ...]:
    """The running sum of the deployments' weights, for :class:`ShuffledDeployments`."""
    return tuple(accumulate(spec.deployment.weight if spec.deployment is not None else 1.0 for spec in deployments))


def _no_stats() -> DeploymentStats:
    from agentrt.routing.stats import DeploymentStats

    return DeploymentStats()


_NO_STATS = _no_stats()  # the shuffle reads no stats
