"""Deployments and routing: one model served from several places, each call ordered over them.

::

    models:
      gpt-4o:
        deployments:
          - {provider: openai, name: gpt-4o, weight: 2, rpm: 600}
          - {provider: azure-eu, name: gpt-4o-prod, rpm: 300, tags: {region: eu}}
        routing: {strategy: least-busy}     # shuffle | least-busy | latency | usage | cost

A call tries the model's deployments in the strategy's order, then its
fallbacks' deployments. A deployment at its rpm/tpm is skipped (counted
exactly on the policy backend, across processes); one that fails is cooled
down by its own circuit breaker, and the call moves to the next. When every
deployment is at its limit, the call is refused with
:class:`DeploymentBusy` (a ``RateLimitExceeded``) and the soonest ``retry_after``.

Modules: ``strategies`` (the orderings), ``stats`` (in flight, latency, tries),
``limits`` (the holds on the backend), ``router`` (:class:`Router`), ``_metrics``
(the per-deployment metrics, read from the stats when scraped).
"""

from agentrt.routing.limits import DeploymentBusy, DeploymentLimits
from agentrt.routing.router import Router
from agentrt.routing.stats import DeploymentState, DeploymentStats
from agentrt.routing.strategies import STRATEGIES, order_deployments

__all__ = [
    "STRATEGIES",
    "DeploymentBusy",
    "DeploymentLimits",
    "DeploymentState",
    "DeploymentStats",
    "Router",
    "order_deployments",
]
