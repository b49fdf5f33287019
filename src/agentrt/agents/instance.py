"""One agent instance: its mailbox, its state, and the task that drains the mailbox while there is work.

An idle instance owns no task: :meth:`AgentInstance.drain` is started when an
activity arrives at an empty mailbox and returns when the mailbox is empty
again. It processes one activity at a time; after each one a durable agent's
state is saved together with the activity's completion, and a failure goes to
the supervisor (:meth:`AgentInstance._supervise`), which applies the type's
restart policy.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentrt.agents._log import logger
from agentrt.agents._transient import retry_delay
from agentrt.agents.context import AgentContext
from agentrt.agents.events import (
    ActivityFailed,
    ActivityProcessed,
    AgentEvent,
    AgentRestarted,
    StateChanged,
    StatusChanged,
    Subscription,
)
from agentrt.agents.mailbox import Entry, Mailbox, MailboxStats
from agentrt.agents.persistence import AgentStore, LeaseLost
from agentrt.errors import AgentError, AgentTerminated

if TYPE_CHECKING:
    from agentrt.agents.activity import Activity
    from agentrt.agents.agent import Agent
    from agentrt.agents.backend import AgentEngine
    from agentrt.agents.registry import AgentType
    from agentrt.calls import Principal

__all__ = ["AgentInfo", "AgentInstance", "AgentStats", "AgentStatus"]



class AgentStatus(enum.Enum):
    IDLE = "idle"
    PROCESSING = "processing"
    ERROR = "error"
    """The last activity failed and none has succeeded since; the agent still takes work."""
    TERMINATED = "terminated"
    FAILED = "failed"
    """The supervisor gave up (restarts used up, or its saved state could not be restored): the agent
    stays listed with the reason and keeps its mailbox until it is resumed or terminated."""
    LOST = "lost"
    """Not durable, and the process that ran it (a Ray shard host) died: its state and mailbox are gone.
    Listed so that nobody mistakes it for an agent that never existed; spawn it again to reuse the id."""


_IDLE, _PROCESSING, _ERROR, _TERMINATED, _FAILED = (
    AgentStatus.IDLE,
    AgentStatus.PROCESSING,
    AgentStatus.ERROR,
    AgentStatus.TERMINATED,
    AgentStatus.FAILED,
)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """One line of ``rt.agents.list()``."""

    id: str
    type: str
    status: AgentStatus
    depth: int
    durable: bool
    owner_user: str | None = None
    """Whom the agent belongs to (who spawned it), when that was said."""
    owner_tenant: str | None = None
    reason: str | None = None
    """Why the agent failed (status ``failed``)."""


@dataclass(frozen=True, slots=True)
class AgentStats:
    """``rt.agents.stats(id)``: status, restarts in the current window, and the mailbox counters."""

    id: str
    type: str
    status: AgentStatus
    restarts: int
    mailbox: MailboxStats


class AgentInstance(Mailbox):
    """The runtime's record of one agent. Slotted, and one object with its mailbox: idle agents are cheap."""

    __slots__ = ("agent", "awaiting", "closing", "failure", "id", "in_flight", "kind", "marking", "owner", "pause",
                 "restart_times", "retries", "snapshot", "state", "status", "subscribers", "task")

    def __init__(self, agent_id: str, kind: AgentType, state: Any, owner: Principal | None = None) -> None:
        super().__init__(kind.mailbox.size, kind.mailbox.when_full == "reject")
        self.id = agent_id
        self.kind = kind
        self.state = state
        self.status = _IDLE
        self.agent: Agent[Any] | None = self._new_agent()
        self.task: asyncio.Task[None] | None = None
        self.closing = False  # takes no more activities (terminating, or stopped for good)
        self.subscribers: list[Subscription] | None = None
        self.awaiting: AgentInstance | None = None  # whose answer the current activity waits for (ctx.ask)
        self.restart_times: deque[float] | None = None
        self.owner = owner
        self.failure: str | None = None  # why it is FAILED
        self.in_flight = 0  # durable: the seq the store marks as started (0: none), as last committed
        self.marking = False  # durable: a journal write that marks its activity in flight is under way
        self.pause: asyncio.Future[None] | None = None  # a backoff wait that terminate/close cut short
        self.retries: dict[int, int] | None = None  # transient retries so far, by activity seq
        # The state as last saved (durable) or last known good (restart strategy): JSON text, or a deep
        # copy for a state type pydantic cannot serialise.
        self.snapshot: Any = kind.codec.snapshot(state) if kind.keeps_snapshot else None

    def _new_agent(self) -> Agent[Any]:
        agent = self.kind.cls()
        agent._instance = self
        return agent

    # --- information ------------------------------------------------------------------------

    def info(self) -> AgentInfo:
        owner = self.owner
        return AgentInfo(
            self.id,
            self.kind.name,
            self.status,
            self.depth,
            self.kind.durable,
            owner.user if owner is not None else None,
            owner.tenant if owner is not None else None,
            self.failure,
        )

    def stats(self) -> AgentStats:
        restarts = len(self.restart_times or ())
        return AgentStats(self.id, self.kind.name, self.status, restarts, self.mailbox_stats())

    # --- events ---------------------------------------------------------------------------------

    def publish(self, event: AgentEvent) -> None:
        for subscriber in self.subscribers or ():
            subscriber.publish(event)

    def subscribe(self, buffer: int) -> Subscription:
        subscription = Subscription(self.id, buffer, self._unsubscribe)
        if self.subscribers is None:
            self.subscribers = []
        self.subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self.subscribers
        if subscribers is not None and subscription in subscribers:
            subscribers.remove(subscription)
            if not subscribers:
                self.subscribers = None

    def set_status(self, status: AgentStatus, reason: str | None = None) -> None:
        if status is self.status:
            return
        self.status = status
        if self.subscribers:
            self.publish(StatusChanged(agent=self.id, status=status.value, reason=reason))

    # --- hooks ----------------------------------------------------------------------------------

    async def run_hook(self, rt: AgentEngine, hook: str) -> bool:
        """Run ``on_start`` or ``on_stop``; a failure is logged and published, never raised. True if it ran clean."""
        agent = self.agent
        if agent is None:
            return True
        try:
            await getattr(agent, hook)(AgentContext(self, rt, None))
        except Exception as err:
            logger().error("agent_hook_failed", agent=self.id, agent_type=self.kind.name, hook=hook, exc_info=err)
            if self.subscribers:
                self.publish(ActivityFailed(agent=self.id, activity=hook, type=hook, error=err, seconds=0.0))
            return False
        return True

    # --- the drain task ---------------------------------------------------------------------------

    async def drain(self, rt: AgentEngine, start_hook: bool = False) -> None:
        """Process queued activities until the mailbox is empty (or the agent stops), then end.

        The common case (no subscriber, a handler that returns) runs inline in
        this loop; failures, events and durable saves step out to their methods.
        """
        try:
            if start_hook:
                await self.run_hook(rt, "on_start")
            kind = self.kind
            codec = kind.codec
            keeps_snapshot = kind.keeps_snapshot
            store = rt.store if kind.durable else None
            tracing = rt.tracing
            while self._heap and self.status is not _TERMINATED and self.status is not _FAILED:
                entry = self.pop()
                _, seq, activity, reply = entry
                if self.status is not _PROCESSING:
                    if self.subscribers is None:
                        self.status = _PROCESSING
                    else:
                        self.set_status(_PROCESSING)
                watched = self.subscribers is not None
                before = (self.snapshot if keeps_snapshot else codec.snapshot(self.state)) if watched else None
                started = perf_counter()
                try:
                    if store is not None and seq != self.in_flight:
                        # Durable before the handler runs: after a crash, this one (only) is redelivered.
                        await store.start(self.id, seq)
                        self.in_flight = seq
                    if tracing is None:
                        result = await self.agent.handle(activity, AgentContext(self, rt, activity))  # type: ignore[union-attr]
                    else:
                        with tracing.span(f"invoke_agent {kind.name}", _span_attributes(self, activity)):
                            result = await self.agent.handle(activity, AgentContext(self, rt, activity))  # type: ignore[union-attr]
                    if keeps_snapshot:
                        # A stateless agent (None before and after) skips the copy: the benchmark's handler.
                        state = self.state
                        if store is None:
                            saved = codec.snapshot(state) if state is not None or self.snapshot != "null" else "null"
                        else:
                            saved = self._checked_snapshot(state)
                            # The next activity is marked started with this completion: one write, not two.
                            heap = self._heap
                            next_seq = heap[0][1] if heap else 0
                            await store.complete(self.id, seq, saved, next_seq)
                            self.in_flight = next_seq
                        self.snapshot = saved
                except Exception as err:
                    elapsed = perf_counter() - started
                    self.busy_time += elapsed
                    if err.__class__ is LeaseLost:
                        # Another process runs the agent now and redoes this activity: stop here.
                        if reply is not None and not reply.done():
                            reply.set_exception(err)
                        rt._lose(self.id)
                        break
                    if await self._retry_later(rt, entry, err):
                        if rt._closing:
                            break  # closing: it stays queued (and, durable, journaled for the next start)
                        continue
                    self.failed += 1
                    await self._supervise(rt, entry, err, elapsed, store)
                    continue
                except asyncio.CancelledError:
                    # The runtime closed past its deadline: the asker learns; a durable activity stays journaled.
                    self.busy_time += perf_counter() - started
                    if reply is not None and not reply.done():
                        reply.set_exception(_cut_short(self.id))
                    raise
                elapsed = perf_counter() - started
                self.busy_time += elapsed
                self.processed += 1
                if reply is not None and not reply.done():
                    reply.set_result(result)
                if watched and self.subscribers:
                    self._publish_outcome(activity, result, elapsed, before)
        finally:
            self.task = None
            if self._heap is not None and not self._heap:
                self._heap = None  # what release_if_empty does, inline: this runs once per busy spell
            if self._backlog is not None:
                self.release_if_empty()
            if self.status is _PROCESSING:
                if self.subscribers is None:
                    self.status = _IDLE
                else:
                    self.set_status(_IDLE)

    def _publish_outcome(self, activity: Activity, result: Any, elapsed: float, before: Any) -> None:
        self.publish(
            ActivityProcessed(agent=self.id, activity=activity.id, type=activity.type, result=result, seconds=elapsed)
        )
        after = self.snapshot if self.kind.keeps_snapshot else self.kind.codec.snapshot(self.state)
        if after != before:
            self.publish(StateChanged(agent=self.id, activity=activity.id, state=self.kind.codec.dump(self.state)))

    # --- supervision ------------------------------------------------------------------------------

    def _checked_snapshot(self, state: Any) -> str:
        """The state as the JSON text to save, once it is known to restore: an invalid state is refused
        here (the activity fails) rather than saved and found unreadable at the next start."""
        codec = self.kind.codec
        try:
            return codec.checked_text(state)
        except Exception as err:
            raise AgentError(
                f"agent {self.id!r} left a state that is not a valid {_type_name(codec.state_type)}, so it was not "
                f"saved and the activity failed: {err}",
                agent=self.id,
            ) from None

    async def _retry_later(self, rt: AgentEngine, entry: Entry, err: Exception) -> bool:
        """A transient error: wait (honouring its retry_after) and queue the activity again. True if it did."""
        if self.closing or rt._closing:
            return False
        seq = entry[1]
        policy = self.kind.restart
        retries = self.retries
        attempt = retries.get(seq, 0) if retries is not None else 0
        if attempt >= policy.transient_retries:
            if retries is not None:
                retries.pop(seq, None)
            return False
        delay = retry_delay(err, attempt, base=policy.backoff, cap=policy.max_retry_delay)
        if delay is None:
            return False
        if retries is None:
            retries = self.retries = {}
        retries[seq] = attempt + 1
        logger().warning(
            "agent_activity_retry",
            agent=self.id,
            agent_type=self.kind.name,
            activity=entry[2].id,
            attempt=attempt + 1,
            delay=round(delay, 3),
            error=type(err).__name__,
        )
        try:
            await self.wait(rt, delay)
        finally:
            # Its own (seq) place: ahead of what came later at its priority. Back in the queue even when
            # cancelled (the runtime closing past its deadline), so that its asker is told.
            self.put(entry, reserved=False)
        return True

    async def wait(self, rt: AgentEngine, delay: float) -> None:
        """Sleep ``delay`` seconds, cut short when the agent is terminated or the runtime closes."""
        if delay <= 0 or self.closing or rt._closing:
            return
        pause = self.pause = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(pause), delay)
        except TimeoutError:
            pass
        finally:
            self.pause = None

    def interrupt(self) -> None:
        """End a backoff wait now (terminate, close)."""
        pause = self.pause
        if pause is not None and not pause.done():
            pause.set_result(None)

    async def _supervise(
        self, rt: AgentEngine, entry: Entry, err: Exception, elapsed: float, store: AgentStore | None
    ) -> None:
        """A handler raised: log it, tell the subscribers, apply the restart policy, then tell the asker
        (last, so that an asker who gets the error finds the agent already recovered, or stopped), then
        back off before the next activity when it restarted."""
        kind = self.kind
        _, seq, activity, reply = entry
        if self.retries is not None:
            self.retries.pop(seq, None)
        strategy = kind.restart.strategy
        logger().error(
            "agent_activity_failed",
            agent=self.id,
            agent_type=kind.name,
            activity=activity.id,
            activity_type=activity.type,
            priority=activity.priority,
            redelivered=activity.redelivered,
            strategy=strategy,
            exc_info=err,
        )
        self.set_status(_ERROR, f"{type(err).__name__}: {err}")
        if self.subscribers:
            self.publish(
                ActivityFailed(agent=self.id, activity=activity.id, type=activity.type, error=err, seconds=elapsed)
            )
        backoff = 0.0
        try:
            backoff = await self._recover(rt, entry, err, store)
        finally:
            if reply is not None and not reply.done():
                reply.set_exception(err)
        await self.wait(rt, backoff)

    async def _recover(self, rt: AgentEngine, entry: Entry, err: Exception, store: AgentStore | None) -> float:
        """Apply the restart policy; returns how long to wait before the next activity."""
        kind = self.kind
        seq = entry[1]
        strategy = kind.restart.strategy
        if strategy == "resume":
            # Keep the state as the handler left it, and save it so a crash does not undo what stays; a
            # state that does not validate is not kept: back to the last saved one.
            saved = None
            if kind.keeps_snapshot:
                try:
                    saved = self._checked_snapshot(self.state) if store is not None else kind.codec.snapshot(self.state)
                except AgentError:
                    self.state = kind.codec.restore(self.snapshot)
                    saved = self.snapshot
            await self._complete_quietly(store, seq, saved)
            if saved is not None:
                self.snapshot = saved
            return 0.0
        if strategy == "restart" and self._may_restart():
            await self._complete_quietly(store, seq, self.snapshot)
            await self._restart(rt)
            restarts = len(self.restart_times or ())
            return float(min(kind.restart.backoff * 2 ** (restarts - 1), kind.restart.max_backoff))
        if strategy == "restart":
            # Restarts used up: the agent stops taking work but keeps it (the failed activity first) until
            # someone resumes or terminates it.
            reason = (
                f"more than {kind.restart.max_restarts} restarts within {kind.restart.within:g}s "
                f"(last error: {type(err).__name__}: {err})"
            )
            self.state = kind.codec.restore(self.snapshot) if self.snapshot is not None else self.state
            self.put((entry[0], seq, entry[2], None), reserved=False)
            await rt._fail(self, reason)
            return 0.0
        reason = f"the restart strategy is 'stop' (error: {type(err).__name__}: {err})"
        await self._complete_quietly(store, seq, self.snapshot)
        await rt._stop_for_good(self, reason)
        return 0.0

    def _may_restart(self) -> bool:
        policy = self.kind.restart
        now = time.monotonic()
        times = self.restart_times
        if times is None:
            times = self.restart_times = deque()
        while times and now - times[0] > policy.within:
            times.popleft()
        if len(times) >= policy.max_restarts:
            return False
        times.append(now)
        return True

    async def _restart(self, rt: AgentEngine) -> None:
        kind = self.kind
        self.state = kind.codec.restore(self.snapshot) if self.snapshot is not None else kind.codec.initial(None)
        self.agent = self._new_agent()
        restarts = len(self.restart_times or ())
        logger().warning("agent_restarted", agent=self.id, agent_type=kind.name, restarts=restarts,
                     within=kind.restart.within)
        if self.subscribers:
            self.publish(AgentRestarted(agent=self.id, restarts=restarts))
        if kind.has_on_start:
            await self.run_hook(rt, "on_start")

    async def _complete_quietly(self, store: AgentStore | None, seq: int, state: Any) -> None:
        """Mark a failed activity complete: it was handled (by failing), and must not come back after a crash."""
        if store is None:
            return
        try:
            await store.complete(self.id, seq, state if state is not None else "null")
            self.in_flight = 0
        except Exception as err:
            logger().error("agent_journal_update_failed", agent=self.id, seq=seq, exc_info=err)

    def hold_for_resume(self) -> None:
        """Keep every queued activity for when the agent is resumed; their askers learn now that it failed."""
        entries = self.take_all()
        failed = AgentError(
            f"agent {self.id!r} failed ({self.failure}); the activity is kept and processed when the agent is "
            "resumed: resume it once the cause is fixed, or terminate it",
            agent=self.id,
        )
        for priority, seq, activity, reply in entries:
            if reply is not None and not reply.done():
                reply.set_exception(failed)
                reply.exception()
            self.put((priority, seq, activity, None), reserved=False)
        self.fail_waiting_senders(failed)

    # --- the end ------------------------------------------------------------------------------------

    def discard_queue(self, error: AgentError) -> int:
        """Drop every queued activity (askers get ``error``) and wake waiting senders with it; returns how many."""
        entries = self.take_all()
        for entry in entries:
            reply = entry[3]
            if reply is not None and not reply.done():
                reply.set_exception(error)
                reply.exception()  # retrieved: an asker that gave up must not leave a warning behind
        self.fail_waiting_senders(error)
        return len(entries)

    def end_subscriptions(self) -> None:
        subscribers, self.subscribers = self.subscribers, None
        for subscription in subscribers or ():
            subscription.end()


def _cut_short(agent: str) -> AgentTerminated:
    return AgentTerminated(
        f"agent {agent!r} was stopped before this activity finished (the runtime closed past its "
        "shutdown_timeout); a durable agent processes it again when it is restored",
        agent=agent,
    )


def _span_attributes(instance: AgentInstance, activity: Activity) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": instance.kind.name,
        "gen_ai.agent.id": instance.id,
        "agentrt.activity.type": activity.type,
        "agentrt.activity.priority": activity.priority,
        "agentrt.activity.redelivered": activity.redelivered,
    }


def _type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)
