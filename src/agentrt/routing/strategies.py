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
from collections.abc import Callable, Sequence
from random import Random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentrt.models import ModelSpec, RoutingStrategy
    from agentrt.routing.stats import DeploymentStats

__all__ = ["STRATEGIES", "order_deployments"]

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
    ranked: list[tuple[float, float, int]] = []
    for index, spec in enumerate(deployments):
        deployment = spec.deployment
        weight = deployment.weight if deployment is not None else 1.0
        # log(u) / w orders like u ** (1 / w), without the power; negated so that lowest goes first.
        tie = -math.log(draw() or 5e-324) / weight
        ranked.append((key(spec, stats) if key is not None else 0.0, tie, index))
    ranked.sort()
    return [deployments[index] for _, _, index in ranked]
