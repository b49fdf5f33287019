"""The services behind model calls, registered by every runtime (see ``agentrt._builtin_services``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog

from agentrt.calls._in_flight import DRAIN_AT_STOP
from agentrt.calls.guards import ProviderGuards
from agentrt.calls.pipeline import CallPipeline
from agentrt.calls.policy_hook import AllowAll, PolicyHook
from agentrt.config import Config
from agentrt.models import ModelCatalog
from agentrt.observability import Metrics
from agentrt.observability.tracing import Tracing
from agentrt.providers import ProviderRegistry
from agentrt.services import service
from agentrt.store.ledger import UsageLedger
from agentrt.tools.registry import ToolRegistry

_log = structlog.get_logger("agentrt.calls")

__all__ = [
    "call_pipeline_service",
    "policy_hook_service",
    "provider_guards_service",
    "provider_registry_service",
]


@service(name="providers", version="1")
async def provider_registry_service(config: Config) -> AsyncIterator[ProviderRegistry]:
    """One client per configured provider; their HTTP sessions close when the runtime stops."""
    registry = ProviderRegistry(config.providers)
    try:
        yield registry
    finally:
        await registry.aclose()


@service(name="provider_guards", version="1", config_section="providers")
async def provider_guards_service(config: Config, metrics: Metrics) -> AsyncIterator[ProviderGuards]:
    """Breakers, limits, timeouts and retries per provider; a reload applies new settings at once."""
    guards = ProviderGuards(config.providers)
    if metrics.calls is not None:
        for name, guard in guards.items():
            metrics.calls.breaker_known(name)
            guard.breaker.add_listener(metrics.calls.breaker_changed)
    yield guards


@service(name="policy", version="1")
async def policy_hook_service(config: Config) -> AsyncIterator[PolicyHook]:
    """Admits every call; the policy service takes this place when policies are enforced."""
    yield AllowAll()


@service(name="calls", version="1", config_section="cache")
async def call_pipeline_service(
    config: Config,
    catalog: ModelCatalog,
    providers: ProviderRegistry,
    guards: ProviderGuards,
    policy: PolicyHook,
    metrics: Metrics,
    tracing: Tracing,
    ledger: UsageLedger,
    tools: ToolRegistry,
) -> AsyncIterator[CallPipeline]:
    """Model calls; at stop, the calls under way may end (for up to ``DRAIN_AT_STOP`` seconds), then streams
    still open are settled, all while the policy and the ledger still run."""
    from agentrt.cache import ResponseCache
    from agentrt.routing import Router

    registry = metrics.registry if metrics.enabled else None
    router = Router(getattr(policy, "backend", None), registry=registry)
    cache = ResponseCache(config.cache, registry=registry)
    pipeline = CallPipeline(
        catalog, providers, guards, policy, metrics.calls, tracing, ledger, router=router, cache=cache
    )
    pipeline.tool_registry = tools  # a dependency, so toolkits stay up while the calls under way drain
    try:
        yield pipeline
    finally:
        # This service needs the policy and the ledger, so it stops before them: the last moment to charge.
        left = await pipeline.drain(DRAIN_AT_STOP)
        if left:
            _log.warning(
                "calls_still_running_at_stop",
                calls=left,
                hint="their holds lapse after policies.reservation_ttl; stop the callers before the runtime",
            )
        await pipeline.settle_open_streams()
        await router.close()
        await cache.close()
