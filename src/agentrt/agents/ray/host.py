"""The shard host: a named, detached, async Ray actor running the agents of one shard.

One per shard, named ``agentrt-shard-<n>`` in the configured namespace,
created by the first process that needs it (``get_if_exists``), restarted by
Ray when it dies (``max_restarts=-1``, on a live node). It opens a whole
:class:`~agentrt.Runtime` from the configuration it is given (so its agents'
model calls go through the same policies, ledger and store as everywhere
else) with a :class:`~agentrt.agents.ray._shard.ShardRuntime` as its agents.
Opening happens on the first call (an actor's ``__init__`` cannot await);
calls that arrive meanwhile wait for it. Opening restores the shard's durable
agents from the store with their journals (the one in flight marked
redelivered) and marks the non-durable agents of a dead predecessor lost.

This module imports Ray: only the router imports it, when a host is first needed.

Its methods are what :class:`~agentrt.agents.ray.RayAgents` and the other
hosts call: ``deliver`` (a batch of tells), ``ask_batch`` (a batch of asks:
the quick answers in the reply, the others streamed by ``answers``), ``events``
(a subscription, streamed),
and one method per read or command. ``metrics`` returns the host runtime's
Prometheus text (its agents and their model calls).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from functools import cache
from typing import TYPE_CHECKING, Any

import ray

from agentrt.agents.ray._router import portable_error
from agentrt.agents.ray._shard import repair_sentinels
from agentrt.agents.ray._trace import within

if TYPE_CHECKING:
    from agentrt import Runtime
    from agentrt.agents.activity import Activity
    from agentrt.agents.events import AgentEvent
    from agentrt.agents.instance import AgentInfo, AgentStats
    from agentrt.agents.ray._shard import ShardRuntime, TypeSpec
    from agentrt.calls import Principal
    from agentrt.config import Config

__all__ = ["ShardHost", "shard_host_class"]

# How long a batch of asks waits for its answers to travel back in the call's own reply; slower answers
# follow in a stream. Quick handlers (most) cost one round trip per batch.
_QUICK_ANSWERS = 0.02
_FORGET_UNFOLLOWED = 600.0


class ShardHost:
    """The actor's class (made a Ray actor by :func:`shard_host_class`)."""

    def __init__(
        self, config: Config, shard: int, shards: int, namespace: str, code_types: list[TypeSpec] | None = None
    ) -> None:
        # Ray keeps the constructor's arguments for a restart: the types registered from code in the
        # process that created the host come back with it.
        self.config = config
        self.shard = shard
        self.shards = shards
        self.namespace = namespace
        self.code_types: dict[str, TypeSpec] = {spec[0]: spec for spec in code_types or ()}
        self._opening: asyncio.Task[ShardRuntime] | None = None
        self._agents: ShardRuntime | None = None
        self._runtime: Runtime | None = None
        self._unanswered: dict[int, set[asyncio.Task[tuple[int, bool, Any]]]] = {}
        self._next_batch = 0
        self.batches = 0  # deliver calls (each a batch of tells): what ping() reports, to see batching work
        self.told = 0

    async def agents(self) -> ShardRuntime:
        agents = self._agents
        if agents is not None:
            return agents
        opening = self._opening
        if opening is None or (opening.done() and (opening.cancelled() or opening.exception() is not None)):
            # First call, or the last opening failed (the store was down...): try again rather than fail
            # every call for the rest of the host's life.
            opening = self._opening = asyncio.get_running_loop().create_task(self._open())
        return await asyncio.shield(opening)

    async def _open(self) -> ShardRuntime:
        from agentrt import Runtime
        from agentrt.agents import AgentRuntime
        from agentrt.agents.ray._router import HostRouter
        from agentrt.agents.ray._shard import HostPeers, ShardRuntime, shard_agents_service
        from agentrt.agents.ray._types_kv import published_types

        section = self.config.agents_backend.ray
        for spec in published_types(self.namespace):  # types registered from code, even after a restart
            self.code_types.setdefault(spec[0], spec)
        router = HostRouter(self.config, section, lambda: list(self.code_types.values()))
        peers = HostPeers(router, self.shard)
        runtime = Runtime.open(self.config)  # plugins too: the services a host's agents use are those of any runtime
        runtime.override(
            AgentRuntime,
            shard_agents_service(
                shard=self.shard,
                namespace=self.namespace,
                peers=peers,
                lease_ttl=section.lease_ttl,
                code_types=list(self.code_types.values()),
            ),
        )
        await runtime.start()
        self._runtime = runtime
        agents = runtime.services.get(AgentRuntime)
        assert isinstance(agents, ShardRuntime)
        self._agents = agents
        return agents

    # --- messages -----------------------------------------------------------------------------

    async def deliver(
        self, items: list[tuple[str, Activity, dict[str, str] | None]]
    ) -> list[BaseException | None]:
        """Queue each activity (a batch of tells); one outcome per item: None (queued) or the error."""
        agents = self._agents if self._agents is not None else await self.agents()
        self.batches += 1
        self.told += len(items)
        outcomes: list[BaseException | None] = [None] * len(items)
        waits: list[int] = []
        waiting: set[str] = set()  # agents with a tell that waits: their later ones wait too, to keep order
        for index, (agent_id, activity, trace) in enumerate(items):
            if trace is None and agent_id not in waiting and agents.tell_nowait(agent_id, activity):
                continue
            waiting.add(agent_id)
            waits.append(index)
        if waits:
            results = await asyncio.gather(
                *(within(items[i][2], agents.tell(items[i][0], items[i][1])) for i in waits), return_exceptions=True
            )
            for index, result in zip(waits, results, strict=True):
                if isinstance(result, BaseException):
                    outcomes[index] = portable_error(result)
        return outcomes

    async def ask(
        self, agent_id: str, activity: Activity, timeout: float | None, trace: dict[str, str] | None
    ) -> tuple[bool, Any]:
        """One ask: ``(ok, result or error)``."""
        agents = self._agents if self._agents is not None else await self.agents()
        try:
            return True, await within(trace, agents.ask(agent_id, activity, timeout=timeout))
        except Exception as err:
            return False, portable_error(err)

    async def ask_batch(
        self, questions: list[tuple[str, Activity, float | None, dict[str, str] | None]]
    ) -> tuple[list[tuple[int, bool, Any]], int]:
        """Ask each. Returns the answers ``(index, ok, result or error)`` that came within a short window
        (a burst of quick handlers: one reply, no stream), and the key of the others (0: none), whose
        answers :meth:`answers` streams."""
        agents = self._agents if self._agents is not None else await self.agents()

        async def one(
            index: int, agent_id: str, activity: Activity, timeout: float | None, trace: dict[str, str] | None
        ) -> tuple[int, bool, Any]:
            try:
                return index, True, await within(trace, agents.ask(agent_id, activity, timeout=timeout))
            except Exception as err:
                return index, False, portable_error(err)

        loop = asyncio.get_running_loop()
        tasks = {loop.create_task(one(i, *question)) for i, question in enumerate(questions)}
        done, pending = await asyncio.wait(tasks, timeout=_QUICK_ANSWERS)
        answered = [task.result() for task in done]
        if not pending:
            return answered, 0
        key = self._next_batch = self._next_batch + 1
        self._unanswered[key] = pending
        # Followed at once by the caller; should it never come (it died), forget them after a while.
        loop.call_later(_FORGET_UNFOLLOWED, self._unanswered.pop, key, None)
        return answered, key

    async def answers(self, key: int) -> AsyncIterator[list[tuple[int, bool, Any]]]:
        """The answers of :meth:`ask_batch`'s slower asks as they come; those that came together in one list."""
        pending = self._unanswered.pop(key, set())
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            yield [task.result() for task in done]

    async def events(self, agent_id: str, buffer: int) -> AsyncIterator[AgentEvent | None]:
        """The agent's events; the first item (None) says the subscription is in place."""
        agents = self._agents if self._agents is not None else await self.agents()
        subscription = agents.subscribe(agent_id, buffer=buffer)
        try:
            yield None
            async for event in subscription:
                yield _portable_event(event)
        finally:
            await subscription.aclose()

    # --- commands and reads ------------------------------------------------------------------

    async def spawn(
        self,
        agent_type: str,
        agent_id: str,
        state: Any,
        exist_ok: bool,
        owner: Principal | None,
        spec: TypeSpec | None = None,
    ) -> str:
        """Spawn here; ``spec``: the type, when the caller registered it from code (it may be new here)."""
        if spec is not None:
            await self._register_types([spec])
        agents = await self.agents()
        return await agents.spawn(agent_type, agent_id, state=state, exist_ok=exist_ok, owner=owner)

    async def terminate(self, agent_id: str, drain: bool, timeout: float | None) -> int:
        return await (await self.agents()).terminate(agent_id, drain=drain, timeout=timeout)

    async def resume(self, agent_id: str) -> None:
        await (await self.agents()).resume(agent_id)

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def find(self, agent_id: str) -> AgentInfo | None:
        return await (await self.agents()).find(agent_id)

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def state(self, agent_id: str) -> Any:
        return (await self.agents()).state(agent_id)

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def stats(self, agent_id: str) -> AgentStats:
        return (await self.agents()).stats(agent_id)

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def list_agents(self) -> list[AgentInfo]:
        return (await self.agents()).list()

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def wait_idle(self, timeout: float | None) -> None:
        await (await self.agents()).wait_idle(timeout)

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def add_types(self, types: list[TypeSpec]) -> None:
        """Agent types registered from code in a client: registered here too (config types are already)."""
        await self._register_types(types)

    async def _register_types(self, types: list[TypeSpec]) -> None:
        for spec in types:
            self.code_types.setdefault(spec[0], spec)
        agents = await self.agents()
        known = agents.types()
        for name, cls, options in types:
            if name not in known:
                repair_sentinels(getattr(cls, "state_type", None))
                agents.register(name, cls, **options)

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def metrics(self) -> bytes:
        """This host's Prometheus exposition (its agents, their model calls); empty when metrics are off."""
        await self.agents()
        from agentrt.observability import Metrics

        assert self._runtime is not None
        metrics = self._runtime.services.get(Metrics)
        return metrics.render() if metrics.enabled else b""

    @ray.method(max_task_retries=-1)  # a read: safe to send again to the restarted host
    async def ping(self) -> dict[str, Any]:
        """Ready (its agents restored): the shard, the process and the node."""
        agents = await self.agents()
        return {
            "shard": self.shard,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "agents": len(agents),
            "lease_owner": agents.shard_store.owner_id,
            "batches": self.batches,
            "told": self.told,
            "subscriptions": sum(len(agent.subscribers or ()) for agent in agents._agents.values()),
        }

    async def stop(self) -> None:
        """Close the runtime (drains the mailboxes; durable agents keep what is left journaled)."""
        runtime, self._runtime = self._runtime, None
        self._agents = None
        self._opening = None
        if runtime is not None:
            await runtime.stop()


def _portable_event(event: AgentEvent) -> AgentEvent:
    from agentrt.agents.events import ActivityFailed

    if not isinstance(event, ActivityFailed):
        return event
    portable = portable_error(event.error)
    if portable is event.error:
        return event
    import dataclasses

    return dataclasses.replace(event, error=portable)


@cache
def shard_host_class() -> Any:
    """The shard host as a Ray actor class."""
    return ray.remote(ShardHost)
