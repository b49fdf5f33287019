"""``AgentRuntime``: what ``rt.agents`` is. Types, instances, tell and ask, subscriptions, shutdown.

Its lifetime: built (types may be registered), :meth:`AgentRuntime.start`
(opens the agent store and restores durable agents), running, then
:meth:`AgentRuntime.close` (drains every mailbox within the deadline and
reports what was left). Everything runs on the event loop that started it.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentrt.agents._delivery import Delivery
from agentrt.agents._leases import Leases
from agentrt.agents._log import logger
from agentrt.agents.context import AgentContext
from agentrt.agents.events import Subscription
from agentrt.agents.instance import AgentInfo, AgentInstance, AgentStats, AgentStatus
from agentrt.agents.persistence import AgentStore, StoredAgent
from agentrt.agents.registry import AgentType, agent_type_from_section
from agentrt.errors import AgentError, AgentNotFound, AgentTerminated, RuntimeStateError

if TYPE_CHECKING:
    from agentrt.agents.agent import Agent
    from agentrt.agents.backend import Peers
    from agentrt.calls import CallPipeline, Principal
    from agentrt.config import AgentSection, MailboxSection, RestartSection
    from agentrt.observability.tracing import Tracing

__all__ = ["AgentRuntime"]


_TERMINATED = AgentStatus.TERMINATED
_FAILED = AgentStatus.FAILED


class AgentRuntime(Delivery, Leases):
    """Agent types and instances, run as actors on this event loop: the ``local`` agent backend.

    ``calls`` is the call pipeline behind ``ctx.generate`` and friends (None:
    agents cannot call models); ``store`` keeps durable agents (None: durable
    types cannot be spawned); ``shutdown_timeout`` bounds :meth:`close`.
    ``peers`` reaches the agents this runtime does not hold (a Ray shard host's
    other shards); None: every agent lives here.

    It implements :class:`~agentrt.agents.backend.AgentBackend` (the coroutine
    reads ``find``, ``fetch_state``...), and keeps synchronous reads
    (``state()``, ``list()``...) for code running next to its agents.
    """

    kind = "local"

    def __init__(
        self,
        *,
        calls: CallPipeline | None = None,
        store: AgentStore | None = None,
        shutdown_timeout: float = 30.0,
        tracing: Tracing | None = None,
        peers: Peers | None = None,
    ) -> None:
        self.peers = peers
        self.calls = calls
        self.store = store
        self.tracing = tracing if tracing is not None and tracing.enabled else None
        self.shutdown_timeout = shutdown_timeout
        self._types: dict[str, AgentType] = {}
        self._agents: dict[str, AgentInstance] = {}
        self._starting: set[str] = set()
        self._unrestored: dict[str, list[StoredAgent]] = defaultdict(list)  # durable agents of unknown types
        self._next_seq = itertools.count(1).__next__
        self._background: set[asyncio.Task[None]] = set()
        self._lease_keeper: asyncio.Task[None] | None = None
        self._started = False
        self._closing = False
        self._closed = False

    # --- types ------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        agent_class: type[Agent[Any]],
        *,
        model: str | None = None,
        mailbox: MailboxSection | Mapping[str, Any] | None = None,
        restart: RestartSection | Mapping[str, Any] | None = None,
        durable: bool = False,
        user: str | None = None,
        tenant: str | None = None,
        tools: Sequence[str] = (),
    ) -> AgentType:
        """Register agent type ``name`` implemented by ``agent_class``; options as in ``agents.<type>``
        of the configuration. Durable agents of this type found in the store are restored now."""
        kind = AgentType.build(
            name,
            agent_class,
            model=model,
            mailbox=mailbox,
            restart=restart,
            durable=durable,
            user=user,
            tenant=tenant,
            tools=tools,
        )
        self._add_type(kind)
        return kind

    def register_section(self, name: str, section: AgentSection) -> AgentType:
        """Register the type ``agents.<name>`` of the configuration describes (imports its class)."""
        kind = agent_type_from_section(name, section)
        self._add_type(kind)
        return kind

    def _add_type(self, kind: AgentType) -> None:
        if kind.name in self._types:
            raise AgentError(f"agent type {kind.name!r} is already registered; pick another name")
        if kind.durable and self.store is None:
            raise AgentError(
                f"agent type {kind.name!r} is durable but this agent runtime has no store: "
                "configure `store:` (the runtime's agents have one) or pass store= to AgentRuntime"
            )
        self._types[kind.name] = kind
        if self._started and kind.durable and kind.name in self._unrestored:
            for record in self._unrestored.pop(kind.name):
                self._restore(kind, record)

    def types(self) -> dict[str, AgentType]:
        """The registered types by name."""
        return dict(self._types)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and restore durable agents (with their state and their pending activities)."""
        if self._started:
            raise RuntimeStateError("this agent runtime was already started")
        self._started = True
        if self.store is None:
            return
        await self.store.open()
        self._next_seq = itertools.count(await self.store.next_seq()).__next__
        for record in await self.store.load():
            kind = self._types.get(record.type)
            if kind is None or not kind.durable:
                # Its type may be registered from code later: it is restored then.
                self._unrestored[record.type].append(record)
                continue
            self._restore(kind, record)
        if self._unrestored:
            logger().info(
                "agents_awaiting_type",
                types=sorted(self._unrestored),
                agents=sum(len(v) for v in self._unrestored.values()),
                hint="they are restored when their type is registered",
            )
        lease_ttl = getattr(self.store, "lease_ttl", None)
        if lease_ttl:
            self._lease_keeper = asyncio.get_running_loop().create_task(self._keep_leases(lease_ttl / 3))

    def _restore(self, kind: AgentType, record: StoredAgent) -> None:
        failure = record.reason if record.status == "failed" else None
        try:
            state = kind.codec.from_text(record.state)
        except Exception as err:
            # A state the current class cannot read: the agent is listed as failed with the reason, its saved
            # state and journal kept (nothing is dropped); the others go on.
            logger().error("agent_restore_failed", agent=record.id, agent_type=kind.name, exc_info=err)
            state = None
            failure = f"its saved state could not be restored as {_type_name(kind.codec.state_type)}: {err}"
            self._remember_failure(record.id, failure)
        instance = AgentInstance(record.id, kind, state, record.owner)
        if state is None and failure is not None:
            instance.snapshot = record.state  # kept as saved, for resume() to try again
        redelivered = 0
        for stored in record.pending:
            # The journal's own seq: it orders them as they were accepted (new ones sort after, since
            # the counter starts above every stored seq), and it names the row to complete.
            activity = stored.activity
            if stored.seq == record.in_flight:
                activity.redelivered = True  # only the one being processed when the process stopped
                redelivered += 1
            instance.put((-activity.priority, stored.seq, activity, None), reserved=False)
        instance.in_flight = record.in_flight
        self._agents[record.id] = instance
        if failure is not None:
            instance.failure = failure
            instance.status = _FAILED
            instance.closing = True
            logger().warning("agent_restored_failed", agent=record.id, agent_type=kind.name, reason=failure,
                             waiting=len(record.pending), hint="resume or terminate it")
            return
        logger().info("agent_restored", agent=record.id, agent_type=kind.name, waiting=len(record.pending),
                      redelivered=redelivered)
        if kind.has_on_start or record.pending:
            self._start_drain(instance, start_hook=kind.has_on_start)

    def _remember_failure(self, agent_id: str, reason: str) -> None:
        """Mark the agent failed in the store too (so `agentrt agents list` shows why), in the background."""
        store = self.store
        if store is None:
            return

        async def mark() -> None:
            try:
                await store.fail(agent_id, reason)
            except Exception as err:
                logger().error("agent_store_fail_failed", agent=agent_id, exc_info=err)

        task = asyncio.get_running_loop().create_task(mark())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self, timeout: float | None = None) -> dict[str, int]:
        """Drain every mailbox, waiting at most ``timeout`` (default ``shutdown_timeout``) seconds, then stop.

        New ``tell``\\ s from outside are refused at once (agents may still send to
        each other while draining). What could not be processed in time is
        cancelled and reported (logged, and returned as ``{agent: activities left}``);
        a durable agent's unprocessed activities stay journaled for the next start.
        Closing twice is harmless.
        """
        if self._closed or self._closing:
            return {}
        self._closing = True
        deadline = time.monotonic() + (self.shutdown_timeout if timeout is None else timeout)
        for instance in self._agents.values():
            instance.interrupt()  # an agent waiting to retry stops waiting: its activity stays for the next start
        await self._wait_idle_until(deadline)
        left: dict[str, int] = {}
        running = self._drain_tasks()
        for instance, task in running:
            left[instance.id] = 1  # the activity being processed; the queued ones are counted below
            task.cancel()
        if running:
            await asyncio.gather(*(task for _, task in running), return_exceptions=True)
        closed = AgentTerminated("the agent runtime closed before this activity was processed")
        for instance in self._agents.values():
            dropped = instance.discard_queue(closed)
            if dropped:
                left[instance.id] = left.get(instance.id, 0) + dropped
        stops = [
            i for i in self._agents.values()
            if i.kind.has_on_stop and i.status is not _TERMINATED and i.agent is not None
        ]
        if stops:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                async with asyncio.timeout(remaining):
                    for instance in stops:
                        await instance.run_hook(self, "on_stop")
            except TimeoutError:
                logger().warning("agents_on_stop_timeout", hint="raise runtime.shutdown_timeout")
        for instance in self._agents.values():
            instance.closing = True
            instance.end_subscriptions()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._release_leases()
        self._closed = True
        if left:
            logger().warning(
                "agents_closed_with_unprocessed",
                left=left,
                total=sum(left.values()),
                hint="durable agents process theirs after the next start; raise runtime.shutdown_timeout",
            )
        else:
            logger().info("agents_closed", agents=len(self._agents))
        return left

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every mailbox is empty and no activity is being processed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not await self._wait_idle_until(deadline):
            raise TimeoutError(f"the agents were still busy after {timeout:g}s")

    def _drain_tasks(self) -> list[tuple[AgentInstance, asyncio.Task[None]]]:
        """The busy agents and their drain tasks. A scan rather than a set kept up to date: it runs at
        shutdown and in wait_idle, while keeping a set would cost every busy spell of every agent."""
        return [(i, i.task) for i in self._agents.values() if i.task is not None]

    async def _wait_idle_until(self, deadline: float | None) -> bool:
        while True:
            tasks = [task for _, task in self._drain_tasks()]
            if not tasks:
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(tasks, timeout=remaining)
        return True

    # --- instances --------------------------------------------------------------------------

    async def spawn(
        self,
        agent_type: str,
        agent_id: str,
        *,
        state: Any = None,
        exist_ok: bool = False,
        owner: Principal | None = None,
    ) -> str:
        """Start agent ``agent_id`` of type ``agent_type`` with ``state`` (an instance of the state type, or
        a dict validated into it; default: the state type built without arguments). Its ``on_start`` runs
        before this returns. An agent of that id that is not terminated is an ``AgentError``, unless
        ``exist_ok`` (and the type matches). ``owner`` is whom the agent belongs to (kept with a durable
        agent across restarts; see :meth:`owner`). Returns the id."""
        self._check_open()
        peers = self.peers
        if peers is not None and not peers.here(agent_id):
            return await peers.spawn(agent_type, agent_id, state, exist_ok, owner)
        kind = self._types.get(agent_type)
        if kind is None:
            known = ", ".join(sorted(self._types)) or "none"
            raise AgentError(
                f"no agent type {agent_type!r} is registered (registered: {known}): "
                "add it under `agents:` in the configuration or call rt.agents.register()"
            )
        existing = self._agents.get(agent_id)
        if agent_id in self._starting or (existing is not None and existing.status is not _TERMINATED):
            if exist_ok and (existing is None or existing.kind is kind):
                return agent_id
            raise AgentError(
                f"agent {agent_id!r} already exists"
                + (f" (type {existing.kind.name!r})" if existing is not None else "")
                + ": terminate it first, pick another id, or pass exist_ok=True",
                agent=agent_id,
            )
        instance = AgentInstance(agent_id, kind, kind.codec.initial(state), owner)
        self._starting.add(agent_id)
        try:
            if kind.has_on_start:
                assert instance.agent is not None
                await instance.agent.on_start(AgentContext(instance, self, None))
            if kind.durable:
                assert self.store is not None
                await self.store.save_agent(agent_id, kind.name, instance.snapshot or "null", owner)
        finally:
            self._starting.discard(agent_id)
        self._agents[agent_id] = instance
        return agent_id

    def _instance(self, agent_id: str) -> AgentInstance:
        instance = self._agents.get(agent_id)
        if instance is None:
            raise AgentNotFound(
                f"no agent {agent_id!r}: spawn it first with rt.agents.spawn(type, {agent_id!r})", agent=agent_id
            )
        return instance

    def state(self, agent_id: str) -> Any:
        """The agent's current state (the live object: a copy is yours to make)."""
        return self._instance(agent_id).state

    def status(self, agent_id: str) -> AgentStatus:
        return self._instance(agent_id).status

    def owner(self, agent_id: str) -> Principal | None:
        """Whom the agent belongs to (``spawn(..., owner=)``); None when nobody was named."""
        return self._instance(agent_id).owner

    def stats(self, agent_id: str) -> AgentStats:
        """Status, restarts in the current window, and the mailbox counters of one agent."""
        return self._instance(agent_id).stats()

    def list(self) -> list[AgentInfo]:
        """Every agent this runtime knows, terminated ones included, by id."""
        return [self._agents[k].info() for k in sorted(self._agents)]

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._agents

    def __len__(self) -> int:
        return len(self._agents)

    def subscribe(self, agent_id: str, *, buffer: int = 256) -> Subscription:
        """An async iterator over the agent's events (status, state, results, errors, restarts).

        At most ``buffer`` events wait for the subscriber; beyond that they are
        dropped and an ``EventsDropped`` marks the gap. It ends when the agent terminates.
        """
        instance = self._instance(agent_id)
        if instance.status is _TERMINATED:
            raise AgentTerminated(f"agent {agent_id!r} is terminated: it has no more events", agent=agent_id)
        return instance.subscribe(buffer)

    # --- the backend's reads (coroutines: a remote backend answers them from another process) ---------

    async def find(self, agent_id: str) -> AgentInfo | None:
        instance = self._agents.get(agent_id)
        return instance.info() if instance is not None else None

    async def fetch_state(self, agent_id: str) -> Any:
        return self.state(agent_id)

    async def fetch_stats(self, agent_id: str) -> AgentStats:
        return self.stats(agent_id)

    async def fetch_list(self) -> builtins.list[AgentInfo]:
        return self.list()

    async def watch(self, agent_id: str, *, buffer: int = 256) -> Subscription:
        return self.subscribe(agent_id, buffer=buffer)

    def _check_open(self) -> None:
        if self._closing or self._closed:
            raise RuntimeStateError("the agent runtime is closed: open a new runtime to spawn agents")

    # --- the end of an agent ------------------------------------------------------------------

    async def terminate(self, agent_id: str, *, drain: bool = True, timeout: float | None = None) -> int:
        """Stop the agent for good. ``drain``: process what is queued first (new activities are refused at
        once); else drop it (askers get ``AgentTerminated``). The activity being processed always finishes,
        unless ``timeout`` passes first. Its ``on_stop`` runs, subscriptions end. Returns how many queued
        activities were dropped. Terminating a terminated agent does nothing."""
        instance = self._instance(agent_id)
        if instance.status is _TERMINATED or (instance.closing and instance.status is not _FAILED):
            return 0
        instance.closing = True
        instance.interrupt()
        instance.fail_waiting_senders(
            AgentTerminated(f"agent {agent_id!r} was terminated while this sender waited for room", agent=agent_id)
        )
        dropped = 0 if drain else instance.discard_queue(_terminated(agent_id))
        task = instance.task
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if instance.depth:  # what is left: after a drain cut short, or what a failed agent kept
            dropped += instance.discard_queue(_terminated(agent_id))
        await self._finish(instance, "terminated", dropped)
        return dropped

    async def resume(self, agent_id: str) -> None:
        """Bring back a FAILED agent: its restarts are counted afresh and it processes its kept mailbox
        (the activity it failed on first). A durable agent is marked active in the store again. An agent
        whose saved state could not be restored is restored now, or this raises ``AgentError`` saying why."""
        instance = self._instance(agent_id)
        if instance.status is not _FAILED:
            raise AgentError(
                f"agent {agent_id!r} is {instance.status.value}, not failed: only a failed agent is resumed",
                agent=agent_id,
            )
        if instance.agent is None or (instance.state is None and instance.snapshot not in (None, "null")):
            try:
                instance.state = instance.kind.codec.from_text(instance.snapshot)
            except Exception as err:
                raise AgentError(
                    f"agent {agent_id!r} cannot be resumed: its saved state still does not restore as "
                    f"{_type_name(instance.kind.codec.state_type)} ({err}); fix the state type, or terminate it",
                    agent=agent_id,
                ) from None
        if instance.kind.durable and self.store is not None:
            await self.store.resume(agent_id)
        instance.failure = None
        instance.restart_times = None
        instance.retries = None
        instance.closing = self._closing
        instance.agent = instance._new_agent()
        instance.set_status(AgentStatus.IDLE, "resumed")
        logger().info("agent_resumed", agent=agent_id, agent_type=instance.kind.name, waiting=instance.depth)
        if instance.task is None and (instance.depth or instance.kind.has_on_start):
            self._start_drain(instance, start_hook=instance.kind.has_on_start)

    async def _fail(self, instance: AgentInstance, reason: str) -> None:
        """The supervisor gave up on ``instance`` for now (called from its own drain task): it keeps its
        mailbox (and, durable, its journal) and is listed as failed until resumed or terminated."""
        instance.failure = reason
        instance.closing = True
        instance.hold_for_resume()
        logger().error(
            "agent_failed",
            agent=instance.id,
            agent_type=instance.kind.name,
            reason=reason,
            waiting=instance.depth,
            hint="resume it (rt.agents.resume / `agentrt agents resume ID`) once the cause is fixed, or terminate it",
        )
        instance.set_status(_FAILED, reason)
        if instance.kind.durable and self.store is not None:
            try:
                await self.store.fail(instance.id, reason)
            except Exception as err:
                logger().error("agent_store_fail_failed", agent=instance.id, exc_info=err)

    async def _stop_for_good(self, instance: AgentInstance, reason: str) -> None:
        """The supervisor gave up on ``instance`` (called from its own drain task)."""
        instance.closing = True
        dropped = instance.discard_queue(_terminated(instance.id, reason))
        logger().error(
            "agent_stopped", agent=instance.id, agent_type=instance.kind.name, reason=reason, dropped=dropped
        )
        await self._finish(instance, reason, dropped)

    async def _finish(self, instance: AgentInstance, reason: str, dropped: int) -> None:
        if instance.kind.has_on_stop:
            await instance.run_hook(self, "on_stop")
        if instance.kind.durable and self.store is not None:
            try:
                await self.store.terminate(instance.id, reason)
            except Exception as err:
                logger().error("agent_store_terminate_failed", agent=instance.id, exc_info=err)
        instance.set_status(_TERMINATED, reason)
        instance.agent = None
        instance.end_subscriptions()
        logger().info("agent_terminated", agent=instance.id, agent_type=instance.kind.name, reason=reason,
                  dropped=dropped)


def _terminated(agent_id: str, reason: str | None = None) -> AgentTerminated:
    why = f" ({reason})" if reason else ""
    return AgentTerminated(
        f"agent {agent_id!r} was terminated{why} before this activity was processed", agent=agent_id
    )


def _type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)
