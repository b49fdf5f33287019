"""Leases: how one agent runtime shares a store with others (processes on PostgreSQL or a SQLite file).

The store leases each durable agent to one runtime (see :mod:`agentrt.agents.durable`). This part of
:class:`~agentrt.agents.AgentRuntime` keeps the leases: renews them a few times per lease period, lets go
of the agents another runtime took over (a stall past the lease), takes over those whose runtime died,
resumes here what was resumed elsewhere (``agentrt agents resume``), and gives the leases back at close.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentrt.agents._log import logger
from agentrt.agents.instance import AgentInstance, AgentStatus
from agentrt.agents.persistence import AgentStore, LeaseLost, StoredAgent

if TYPE_CHECKING:
    from agentrt.agents.registry import AgentType

__all__ = ["Leases"]

_FAILED = AgentStatus.FAILED
_TERMINATED = AgentStatus.TERMINATED


class Leases:
    """The lease-keeping half of :class:`~agentrt.agents.AgentRuntime` (one of its base classes)."""

    # Set by AgentRuntime.__init__ and start().
    store: AgentStore | None
    _agents: dict[str, AgentInstance]
    _types: dict[str, AgentType]
    _unrestored: dict[str, list[StoredAgent]]
    _next_seq: Callable[[], int]
    _lease_keeper: asyncio.Task[None] | None
    _started: bool

    if TYPE_CHECKING:  # AgentRuntime's own

        def _restore(self, kind: AgentType, record: StoredAgent) -> None: ...

        async def resume(self, agent_id: str) -> None: ...

    async def _keep_leases(self, every: float) -> None:
        """Renew this process's leases; let go of the agents another process took over, and take over
        those whose process died (their lease lapsed)."""
        store = self.store
        assert store is not None
        while True:
            await asyncio.sleep(every)
            try:
                lost, taken = await store.renew()
                for agent_id in lost:
                    self._lose(agent_id)
                for record in taken:
                    self._seq_above(max((stored.seq for stored in record.pending), default=0))
                    kind = self._types.get(record.type)
                    if kind is None or not kind.durable:
                        self._unrestored.setdefault(record.type, []).append(record)
                    else:
                        logger().info("agent_taken_over", agent=record.id, agent_type=record.type)
                        self._restore(kind, record)
                await self._resume_resumed_elsewhere()
            except Exception as err:  # the store is down for a moment: try again at the next turn
                logger().error("agent_lease_renew_failed", exc_info=err, hint="check the store")

    async def _resume_resumed_elsewhere(self) -> None:
        """A failed agent marked active in the store by someone else (`agentrt agents resume`) resumes here."""
        resumed = getattr(self.store, "resumed", None)
        failed = [i.id for i in self._agents.values() if i.status is _FAILED and i.kind.durable]
        if resumed is None or not failed:
            return
        active = set(await resumed())
        for agent_id in failed:
            if agent_id in active:
                await self.resume(agent_id)

    def _seq_above(self, top: int) -> None:
        """Number new activities above ``top`` (journal rows of an agent taken over from another process)."""
        after = self._next_seq()
        if after <= top:
            self._next_seq = itertools.count(top + 1).__next__

    def _lose(self, agent_id: str) -> None:
        """Another process runs the agent now: stop it here (its askers are told), without touching the store."""
        instance = self._agents.pop(agent_id, None)
        if instance is None:
            return
        instance.closing = True
        instance.interrupt()
        task = instance.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        moved = LeaseLost(
            f"agent {agent_id!r} moved to another process sharing the store (this one's lease lapsed)",
            agent=agent_id,
        )
        instance.discard_queue(moved)
        instance.set_status(_TERMINATED, "moved to another process")
        instance.end_subscriptions()
        logger().warning("agent_lease_lost", agent=agent_id, agent_type=instance.kind.name,
                         hint="another process took it over: renewals were late (a pause, or the store slow)")

    async def _release_leases(self) -> None:
        keeper = self._lease_keeper
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        if self.store is not None and self._started:
            try:
                await self.store.release()  # another process may take the agents at once
            except Exception as err:
                logger().error("agent_lease_release_failed", exc_info=err, hint="they are taken when they lapse")
