"""How activities reach agents: ``tell``, ``ask``, and the queueing behind them.

The hot path is short on purpose: a ``tell`` to an agent that is not durable,
whose mailbox has room, creates the activity, pushes it on the heap and, if the
agent was idle, starts its drain task, all without suspending. Durable agents
journal first (the sender returns once the journal committed), and a full
mailbox makes the sender wait or fail, as configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from agentrt.agents.activity import Activity, PriorityLike, priority_value
from agentrt.agents.instance import AgentInstance, AgentStatus
from agentrt.agents.mailbox import Entry
from agentrt.agents.persistence import LeaseLost
from agentrt.errors import AgentError, AgentNotFound, AgentTerminated, AgentTimeout

if TYPE_CHECKING:
    from agentrt.agents.backend import Peers
    from agentrt.agents.persistence import AgentStore
    from agentrt.calls import Principal

__all__ = ["Delivery"]


class Delivery:
    """The sending half of :class:`~agentrt.agents.AgentRuntime` (its base class)."""

    # Set by AgentRuntime.__init__.
    store: AgentStore | None
    _agents: dict[str, AgentInstance]
    _next_seq: Callable[[], int]
    _closing: bool
    _closed: bool
    _lose: Callable[[str], None]
    peers: Peers | None

    def tell(
        self,
        agent_id: str,
        payload: Any,
        *,
        priority: PriorityLike = "normal",
        type: str = "message",
        correlation_id: str | None = None,
        sender: Principal | None = None,
    ) -> Coroutine[Any, Any, Activity]:
        """Queue ``payload`` (or an :class:`Activity`, whose own priority and type count) for the agent.

        Await it: it returns the queued activity once it is queued (durable
        agents: journaled too). A full mailbox makes it wait, or raise
        ``MailboxFull``, as configured. ``sender`` is whom the activity is for:
        its model calls run as that principal (unless the agent type names its own).
        """
        # Not `async def`: returning the inner coroutine saves a frame on the hot path.
        return self._tell(agent_id, payload, priority, type, None, correlation_id, False, sender)

    async def _tell(
        self,
        agent_id: str,
        payload: Any,
        priority: PriorityLike,
        type: str,
        reply_to: str | None,
        correlation_id: str | None,
        internal: bool,
        sender: Principal | None = None,
    ) -> Activity:
        instance = self._agents.get(agent_id)
        if instance is None or instance.closing or (self._closing and not internal):
            peers = self.peers
            if instance is None and peers is not None and not peers.here(agent_id):
                # Another shard's agent: queued at its host (host to host), returned once queued there.
                remote = _activity(payload, priority, type, reply_to, correlation_id, sender)
                await peers.send(agent_id, remote)
                return remote
            self._refuse(agent_id, instance)
        if payload.__class__ is Activity:
            activity: Activity = payload
            if sender is not None:
                activity.sender = sender
        else:
            level = priority if priority.__class__ is int else priority_value(priority)
            activity = Activity._new(payload, type, level, reply_to, correlation_id, sender)
        if not self._offer(instance, activity, None):  # type: ignore[arg-type]
            await self._enqueue(instance, activity, None)  # type: ignore[arg-type]
        return activity

    def tell_nowait(self, agent_id: str, activity: Activity) -> bool:
        """Queue ``activity`` at once if nothing has to be waited for (a live agent of this runtime that is
        not durable, with room and nobody waiting); False when the caller must await :meth:`tell` instead,
        which also says why it cannot. (A shard host queues a batch of tells this way, without a task each.)"""
        instance = self._agents.get(agent_id)
        if instance is None or instance.closing or self._closing:
            return False
        return self._offer(instance, activity, None)

    def ask(
        self,
        agent_id: str,
        payload: Any,
        *,
        timeout: float | None = None,
        priority: PriorityLike = "normal",
        type: str = "message",
        correlation_id: str | None = None,
        sender: Principal | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Queue ``payload`` and, awaited, return the handler's result; its error is raised here.

        ``timeout`` (seconds) bounds the whole wait, queueing included; past it
        ``AgentTimeout`` is raised and the activity is still processed later.
        ``sender`` as for :meth:`tell`.
        """
        return self._ask(agent_id, payload, timeout, priority, type, None, correlation_id, None, sender)

    async def _ask(
        self,
        agent_id: str,
        payload: Any,
        timeout: float | None,
        priority: PriorityLike,
        type: str,
        reply_to: str | None,
        correlation_id: str | None,
        asker: AgentInstance | None,
        sender: Principal | None = None,
        waiting: tuple[str, ...] | None = None,
    ) -> Any:
        instance = self._agents.get(agent_id)
        if instance is None or instance.closing or (self._closing and asker is None):
            peers = self.peers
            if instance is None and peers is not None and not peers.here(agent_id):
                # Another host's agent: the ask carries who waits for it, so that a cycle back through
                # the hosts is refused where it closes (the runtime's own check sees this host only).
                chain = _waiting_chain(asker, waiting, agent_id)
                sent = _activity(payload, priority, type, reply_to, correlation_id, sender)
                sent._waiting = chain
                return await peers.ask(agent_id, sent, timeout)
            self._refuse(agent_id, instance)
        assert instance is not None
        chain = None
        if asker is not None:
            if waiting is not None:
                chain = _waiting_chain(asker, waiting, agent_id)
            _check_no_cycle(asker, instance)
        if payload.__class__ is Activity:
            activity: Activity = payload
            if sender is not None:
                activity.sender = sender
        else:
            level = priority if priority.__class__ is int else priority_value(priority)
            activity = Activity._new(payload, type, level, reply_to, correlation_id, sender)
        if chain is not None:
            activity._waiting = chain  # waits for others on other hosts too: its own asks must know them
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if asker is None and timeout is None:  # the common case, kept short
            if not self._offer(instance, activity, reply):
                await self._enqueue(instance, activity, reply)
            return await reply
        if asker is not None:
            asker.awaiting = instance
        try:
            if timeout is None:
                if not self._offer(instance, activity, reply):
                    await self._enqueue(instance, activity, reply)
                return await reply
            scope = asyncio.timeout(timeout)
            try:
                async with scope:
                    await self._enqueue(instance, activity, reply)
                    return await reply
            except TimeoutError:
                if not scope.expired():
                    raise  # the handler's own TimeoutError
                raise AgentTimeout(
                    f"agent {agent_id!r} did not answer within {timeout:g}s "
                    f"({instance.depth} activities queued, status {instance.status.value}); the activity "
                    "stays queued and is still processed: pass a larger timeout= or check the agent",
                    agent=agent_id,
                    timeout=timeout,
                ) from None
        finally:
            if asker is not None:
                asker.awaiting = None

    def _offer(self, instance: AgentInstance, activity: Activity, reply: asyncio.Future[Any] | None) -> bool:
        """Queue at once if that needs no wait (not durable, room, nobody waiting): the hot path."""
        if instance.kind.durable or not instance.try_put((-activity.priority, self._next_seq(), activity, reply)):
            return False
        if instance.task is None:
            self._start_drain(instance)
        return True

    async def _enqueue(self, instance: AgentInstance, activity: Activity, reply: asyncio.Future[Any] | None) -> None:
        """Queue, waiting for room or for the journal as needed."""
        seq = self._next_seq()
        if instance.kind.durable:
            await instance.reserve(instance.id)
            await self._journal(instance, (-activity.priority, seq, activity, reply))
        elif instance.has_room():
            instance.put((-activity.priority, seq, activity, reply), reserved=False)
        else:
            await instance.reserve(instance.id)
            if instance.closing:
                instance.unreserve()
                self._refuse(instance.id, instance)
            instance.put((-activity.priority, seq, activity, reply), reserved=True)
        if instance.task is None:
            self._start_drain(instance)

    async def _journal(self, instance: AgentInstance, entry: Entry) -> None:
        """Journal the activity, then queue it; the slot was reserved. Journaled means queued: a sender
        cancelled while the journal commits does not stop the activity from being queued once it has."""
        assert self.store is not None
        # An idle agent processes this one next: the journal write marks it in flight too, which saves
        # the drain a write of its own. One such mark at a time, so that marks land in the order the
        # agent's in-flight mirror expects (a drain's own marks are written after this one's).
        start = instance.task is None and not instance.depth and not instance.marking
        if start:
            instance.marking = True
        journaled = asyncio.ensure_future(self.store.journal(instance.id, entry[1], entry[2], start))
        queued = False

        def queue(done: asyncio.Future[None]) -> None:
            nonlocal queued
            if start:
                instance.marking = False
            if done.cancelled() or done.exception() is not None:
                instance.unreserve()
                return
            if start:
                instance.in_flight = entry[1]  # committed: the store's mark and the mirror agree
            if instance.closing:
                instance.unreserve()
                return
            instance.put(entry, reserved=True)
            queued = True
            if instance.task is None:
                self._start_drain(instance)

        journaled.add_done_callback(queue)
        try:
            await asyncio.shield(journaled)  # `queue` ran before this returns: callbacks run in order
        except LeaseLost:
            self._lose(instance.id)  # another process runs the agent now: it is no longer this one's
            raise
        if not queued:
            self._refuse(instance.id, instance)  # terminated while the journal committed

    def _start_drain(self, instance: AgentInstance, start_hook: bool = False) -> None:
        # AgentRuntime is the only subclass: `self` is what drain() wants.
        instance.task = asyncio.get_running_loop().create_task(instance.drain(self, start_hook))  # type: ignore[arg-type]

    def _refuse(self, agent_id: str, instance: AgentInstance | None) -> Any:
        if instance is None:
            raise AgentNotFound(
                f"no agent {agent_id!r}: spawn it first with rt.agents.spawn(type, {agent_id!r})", agent=agent_id
            )
        if instance.status is AgentStatus.FAILED:
            raise AgentError(
                f"agent {agent_id!r} failed and takes no activities until it is resumed "
                f"({instance.failure}): resume it (rt.agents.resume({agent_id!r}) or `agentrt agents resume "
                f"{agent_id}`) once the cause is fixed, or terminate it",
                agent=agent_id,
            )
        if self._closing:
            raise AgentTerminated(
                f"the agent runtime is {'closed' if self._closed else 'closing'}: agent {agent_id!r} takes no more "
                "activities (durable agents take them again after the next start)",
                agent=agent_id,
            )
        raise AgentTerminated(
            f"agent {agent_id!r} is terminated and takes no more activities: spawn it again to reuse the id",
            agent=agent_id,
        )


def _activity(
    payload: Any,
    priority: PriorityLike,
    type: str,
    reply_to: str | None,
    correlation_id: str | None,
    sender: Principal | None,
) -> Activity:
    if payload.__class__ is Activity:
        activity: Activity = payload
        if sender is not None:
            activity.sender = sender
        return activity
    level = priority if priority.__class__ is int else priority_value(priority)
    return Activity._new(payload, type, level, reply_to, correlation_id, sender)


def _waiting_chain(asker: AgentInstance | None, waiting: tuple[str, ...] | None, target: str) -> tuple[str, ...] | None:
    """Who waits for an ask to ``target`` that leaves this host: those waiting for the asker's activity, then
    the asker. ``AgentError`` when ``target`` is one of them (it would wait for itself)."""
    if asker is None:
        return None
    chain = (*(waiting or ()), asker.id)
    if target in chain:
        path = " -> ".join((*chain[chain.index(target) :], target))
        raise AgentError(
            f"ask cycle {path} (across hosts): agent {target!r} would wait for itself and deadlock; "
            "use ctx.send and reply with a message instead",
            agent=asker.id,
        )
    return chain


def _check_no_cycle(asker: AgentInstance, target: AgentInstance) -> None:
    """Refuse an ask that would wait on itself: the target is (through others) waiting for the asker."""
    chain = [asker.id]
    current: AgentInstance | None = target
    while current is not None:
        chain.append(current.id)
        if current is asker:
            raise AgentError(
                f"ask cycle {' -> '.join(chain)}: agent {asker.id!r} would wait for itself and deadlock; "
                "use ctx.send and reply with a message instead",
                agent=asker.id,
            )
        current = current.awaiting
        if len(chain) > 1000:
            break
