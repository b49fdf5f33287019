"""What runs inside a shard host: today's local agent machinery for the agents of one shard.

:class:`ShardRuntime` is an :class:`~agentrt.agents.AgentRuntime` with three
differences: its store holds only its shard's durable agents (leased, fenced:
:class:`~agentrt.agents.ray._store.ShardAgentStore`); an agent of another shard
is reached through :class:`HostPeers` (``ctx.send``/``ctx.ask``/``ctx.spawn``
go to that shard's host directly); and it records the agents that are not
durable, so that a successor reports them ``lost`` after this host dies.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agentrt.agents._log import logger
from agentrt.agents.instance import AgentInfo, AgentInstance, AgentStats, AgentStatus
from agentrt.agents.mailbox import MailboxStats
from agentrt.agents.ray._store import HostedAgent, ShardAgentStore
from agentrt.agents.registry import AgentType
from agentrt.agents.runtime import AgentRuntime
from agentrt.calls import CallPipeline
from agentrt.config import Config
from agentrt.errors import AgentError
from agentrt.observability import Metrics, Tracing
from agentrt.services import ServiceDefinition, definition_of, service
from agentrt.store import Store

if TYPE_CHECKING:
    from agentrt.agents.activity import Activity
    from agentrt.agents.ray._router import HostRouter
    from agentrt.calls import Principal

__all__ = ["HostPeers", "ShardRuntime", "TypeSpec", "shard_agents_service"]

TypeSpec = tuple[str, Any, dict[str, Any]]
"""An agent type registered from code, as it travels to the hosts: name, class, register() options."""


class HostPeers:
    """The other shards, as a shard host reaches them: through the router, host to host."""

    def __init__(self, router: HostRouter, shard: int) -> None:
        self.router = router
        self.shard = shard

    def here(self, agent_id: str) -> bool:
        return self.router.shard_of(agent_id) == self.shard

    async def send(self, agent_id: str, activity: Activity) -> None:
        await self.router.tell(agent_id, activity)

    async def ask(self, agent_id: str, activity: Activity, timeout: float | None) -> Any:
        return await self.router.ask(agent_id, activity, timeout)

    async def spawn(
        self, agent_type: str, agent_id: str, state: Any, exist_ok: bool, owner: Principal | None
    ) -> str:
        result: str = await self.router.call(agent_id, "spawn", agent_type, agent_id, state, exist_ok, owner)
        return result


class ShardRuntime(AgentRuntime):
    """The agents of one shard, in its host."""

    def __init__(self, *, shard_store: ShardAgentStore, **options: Any) -> None:
        super().__init__(store=shard_store, **options)
        self.shard_store = shard_store
        self.lost: dict[str, HostedAgent] = {}

    async def start(self) -> None:
        await super().start()
        gone = await self.shard_store.mark_predecessors_lost()
        self.lost = {agent.id: agent for agent in await self.shard_store.lost()}
        if gone:
            logger().warning(
                "agents_lost_with_host",
                shard=self.shard_store.shard,
                agents=len(gone),
                hint="they were not durable: their state and mailbox died with the previous host; spawn them "
                "again, or make the type durable",
            )

    async def spawn(
        self,
        agent_type: str,
        agent_id: str,
        *,
        state: Any = None,
        exist_ok: bool = False,
        owner: Principal | None = None,
    ) -> str:
        peers = self.peers
        if peers is not None and not peers.here(agent_id):
            return await peers.spawn(agent_type, agent_id, state, exist_ok, owner)
        spawned = await super().spawn(agent_type, agent_id, state=state, exist_ok=exist_ok, owner=owner)
        if not self._types[agent_type].durable:
            await self.shard_store.record_hosted(agent_id, agent_type, owner)
        self.lost.pop(agent_id, None)
        return spawned

    async def _finish(self, instance: AgentInstance, reason: str, dropped: int) -> None:
        await super()._finish(instance, reason, dropped)
        if not instance.kind.durable:
            try:
                await self.shard_store.record_terminated(instance.id)
            except Exception as err:
                logger().error("agent_hosted_record_failed", agent=instance.id, exc_info=err)

    def _refuse(self, agent_id: str, instance: AgentInstance | None) -> Any:
        lost = self.lost.get(agent_id) if instance is None else None
        if lost is not None:
            raise AgentError(
                f"agent {agent_id!r} was lost with its shard host (it was not durable, so its state and mailbox "
                "died with the host): spawn it again, or make its type durable",
                agent=agent_id,
            )
        return super()._refuse(agent_id, instance)

    def lost_info(self, agent_id: str) -> AgentInfo | None:
        lost = self.lost.get(agent_id)
        if lost is None:
            return None
        return AgentInfo(
            lost.id, lost.type, AgentStatus.LOST, 0, False, lost.owner_user, lost.owner_tenant,
            "its shard host died and it was not durable",
        )

    def list(self) -> builtins.list[AgentInfo]:
        infos = super().list()
        held = {info.id for info in infos}
        infos += [info for agent in self.lost if agent not in held and (info := self.lost_info(agent)) is not None]
        return sorted(infos, key=lambda info: info.id)

    async def find(self, agent_id: str) -> AgentInfo | None:
        return await super().find(agent_id) or self.lost_info(agent_id)

    def stats(self, agent_id: str) -> AgentStats:
        lost = self.lost.get(agent_id) if agent_id not in self._agents else None
        if lost is not None:
            return AgentStats(agent_id, lost.type, AgentStatus.LOST, 0, MailboxStats(0, 0, 0, 0, 0, 0, 0.0, 0))
        return super().stats(agent_id)


def shard_agents_service(
    *, shard: int, namespace: str, peers: HostPeers, lease_ttl: float, code_types: builtins.list[TypeSpec]
) -> ServiceDefinition:
    """The ``agents`` service of a shard host's runtime: a :class:`ShardRuntime` for shard ``shard``."""

    @service(name="agents", version="1")
    async def shard_agents(
        config: Config, calls: CallPipeline, store: Store, metrics: Metrics, tracing: Tracing
    ) -> AsyncIterator[AgentRuntime]:
        from agentrt.observability.agents_metrics import AgentsCollector

        shard_store = ShardAgentStore(
            store, namespace=namespace, shard=shard, claims=peers.here, lease_ttl=lease_ttl
        )
        agents = ShardRuntime(
            shard_store=shard_store,
            calls=calls,
            shutdown_timeout=config.runtime.shutdown_timeout,
            tracing=tracing,
            peers=peers,
        )
        if metrics.enabled:
            metrics.registry.register(AgentsCollector(agents))
        for name, section in config.agents.items():
            agents.register_section(name, section)
        for name, cls, options in code_types:
            if name not in agents.types():
                repair_sentinels(getattr(cls, "state_type", None))
                agents.register(name, cls, **options)
        await agents.start()
        try:
            yield agents
        finally:
            await agents.close(config.runtime.shutdown_timeout * 0.9)

    return definition_of(shard_agents)


def repair_sentinels(cls: Any, seen: set[int] | None = None) -> None:
    """Give a dataclass shipped by value (``cloudpickle.register_pickle_by_value``) its ``MISSING`` back.

    cloudpickle rebuilds the class with copies of ``dataclasses.MISSING`` in the fields it has no default
    (or no default factory) for, and pydantic, which tests them by identity, then refuses the state type
    ("cannot specify both default and default_factory"). The dataclasses its fields name are repaired too.
    """
    import dataclasses

    seen = set() if seen is None else seen
    fields = getattr(cls, "__dataclass_fields__", None)
    if not isinstance(fields, dict) or id(cls) in seen:
        return
    seen.add(id(cls))
    missing_type = type(dataclasses.MISSING)
    for item in fields.values():
        if type(item.default).__name__ == missing_type.__name__ and item.default is not dataclasses.MISSING:
            item.default = dataclasses.MISSING
        if (
            type(item.default_factory).__name__ == missing_type.__name__
            and item.default_factory is not dataclasses.MISSING
        ):
            item.default_factory = dataclasses.MISSING
        if isinstance(item.type, type):
            repair_sentinels(item.type, seen)


def type_spec(kind: AgentType) -> TypeSpec:
    """An agent type registered from code, as the hosts re-register it."""
    return (
        kind.name,
        kind.cls,
        {
            "model": kind.model,
            "mailbox": kind.mailbox,
            "restart": kind.restart,
            "durable": kind.durable,
            "user": kind.user,
            "tenant": kind.tenant,
            "tools": kind.tools,
        },
    )
