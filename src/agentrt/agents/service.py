"""The agents' runtime service: what ``rt.agents`` is.

Under ``agents_backend.kind: ray`` it is a :class:`~agentrt.agents.ray.RayAgents`
instead: a client of the shard hosts, which hold the agents (see
:mod:`agentrt.agents.ray`). Otherwise, at start it registers the agent types
of the configuration (``agents.<type>``, importing each class), opens the agent tables in the store and restores the
durable agents with their state and their unfinished activities. At stop it
drains every mailbox within ``runtime.shutdown_timeout`` and reports what was
left. It stops before the call pipeline and the store it uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.agents.durable import StoreAgentStore
from agentrt.agents.runtime import AgentRuntime
from agentrt.calls import CallPipeline
from agentrt.config import Config
from agentrt.observability import Metrics, Tracing
from agentrt.observability.agents_metrics import AgentsCollector
from agentrt.services import service
from agentrt.store import Store

__all__ = ["agents_service"]


@service(name="agents", version="1")
async def agents_service(
    config: Config, calls: CallPipeline, store: Store, metrics: Metrics, tracing: Tracing
) -> AsyncIterator[AgentRuntime]:
    """The agent runtime, with the configured types registered and durable agents restored; under
    ``agents_backend.kind: ray``, a client of the shard hosts (which restore the durable agents)."""
    if config.agents_backend.kind == "ray":
        from agentrt.agents.ray.client import RayAgents

        remote = RayAgents(config, shutdown_timeout=config.runtime.shutdown_timeout)
        for name, section in config.agents.items():
            remote.register_section(name, section)
        await remote.start()
        try:
            yield remote
        finally:
            await remote.close()
        return
    agents = AgentRuntime(
        calls=calls,
        store=StoreAgentStore(store),
        shutdown_timeout=config.runtime.shutdown_timeout,
        tracing=tracing,
    )
    if metrics.enabled:
        metrics.registry.register(AgentsCollector(agents))
    for name, section in config.agents.items():
        agents.register_section(name, section)
    await agents.start()
    try:
        yield agents
    finally:
        # The container bounds the whole stop by shutdown_timeout too; leave a little of it for the
        # services stopped after this one (the call pipeline, the store).
        await agents.close(config.runtime.shutdown_timeout * 0.9)
