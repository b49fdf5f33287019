"""A bounded priority mailbox: highest priority first, FIFO within a priority.

The queue is a binary heap of ``(-priority, seq, activity, reply)`` entries;
``seq`` grows with every accepted activity, so equal priorities come out in the
order they went in, and the comparison never reaches the activity. When the
mailbox is full, a sender either waits for room (in the order senders arrived)
or gets :class:`~agentrt.errors.MailboxFull`, as the agent type is configured.

It is the base class of the agent instance rather than an object of its own,
and an empty mailbox holds no list and no waiting-sender queue: an idle agent
is one small object, which is what lets a process hold many of them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any, TypeAlias

from agentrt.agents.activity import Activity
from agentrt.errors import AgentError, MailboxFull

__all__ = ["Entry", "Mailbox", "MailboxStats"]

Entry: TypeAlias = "tuple[int, int, Activity, asyncio.Future[Any] | None]"
"""(-priority, seq, activity, the asker's future or None for a tell)."""


@dataclass(frozen=True, slots=True)
class MailboxStats:
    """A snapshot of one agent's mailbox and work counters.

    ``depth`` counts queued activities (not the one being processed);
    ``processing_seconds`` is the total time spent in the handler.
    """

    depth: int
    max_depth: int
    capacity: int
    enqueued: int
    processed: int
    failed: int
    processing_seconds: float
    waiting_senders: int


class _Backlog:
    """Senders waiting for room, oldest first, and the room promised to senders not yet done putting."""

    __slots__ = ("reserved", "waiters")

    def __init__(self) -> None:
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.reserved = 0


class Mailbox:
    """The queue, its bound and its counters. Not safe across threads (one event loop owns it)."""

    __slots__ = (
        "_backlog",
        "_heap",
        "busy_time",
        "capacity",
        "enqueued",
        "failed",
        "max_depth",
        "processed",
        "reject_when_full",
    )

    def __init__(self, capacity: int, reject_when_full: bool) -> None:
        self._heap: list[Entry] | None = None  # None while empty
        self._backlog: _Backlog | None = None  # None until a sender must wait or reserve
        self.capacity = capacity
        self.reject_when_full = reject_when_full
        self.enqueued = 0
        self.processed = 0
        self.failed = 0
        self.max_depth = 0
        self.busy_time = 0.0

    @property
    def depth(self) -> int:
        return len(self._heap) if self._heap is not None else 0

    def has_room(self) -> bool:
        """True when a sender may put an activity now without overtaking a waiting sender."""
        backlog = self._backlog
        if backlog is None:
            return self.depth < self.capacity
        return self.depth + backlog.reserved < self.capacity and not backlog.waiters

    def try_put(self, entry: Entry) -> bool:
        """Queue ``entry`` if there is room and no sender waits for it; False (nothing done) otherwise."""
        heap = self._heap
        if heap is None:
            if self._backlog is not None and not self.has_room():
                return False
            heap = self._heap = []
        elif len(heap) >= self.capacity or (self._backlog is not None and not self.has_room()):
            return False
        heappush(heap, entry)
        self.enqueued += 1
        if len(heap) > self.max_depth:
            self.max_depth = len(heap)
        return True

    async def reserve(self, agent: str) -> None:
        """Take one slot of room, waiting for it (fairly) or raising ``MailboxFull``, as configured.

        The slot is kept until :meth:`put` uses it or :meth:`unreserve` gives it back.
        """
        backlog = self._backlog
        if backlog is None:
            backlog = self._backlog = _Backlog()
        if self.has_room():
            backlog.reserved += 1
            return
        if self.reject_when_full:
            raise MailboxFull(
                f"the mailbox of agent {agent!r} is full ({self.capacity} activities queued): "
                "retry later, raise agents.<type>.mailbox.size, or set mailbox.when_full: wait",
                agent=agent,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        backlog.waiters.append(waiter)
        try:
            await waiter  # _wake_sender reserved our slot before waking us
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Woken, then cancelled before running: hand the slot on.
                backlog.reserved -= 1
                self._wake_sender()
            elif not waiter.done():
                waiter.cancel()
                if waiter in backlog.waiters:
                    backlog.waiters.remove(waiter)
            raise

    def unreserve(self) -> None:
        """Give back a slot taken with :meth:`reserve` and not used."""
        assert self._backlog is not None
        self._backlog.reserved -= 1
        self._wake_sender()

    def put(self, entry: Entry, *, reserved: bool) -> None:
        """Queue ``entry``; ``reserved`` says it uses a slot taken with :meth:`reserve`."""
        if reserved:
            assert self._backlog is not None
            self._backlog.reserved -= 1
        heap = self._heap
        if heap is None:
            heap = self._heap = []
        heappush(heap, entry)
        self.enqueued += 1
        if len(heap) > self.max_depth:
            self.max_depth = len(heap)

    def pop(self) -> Entry:
        """The next entry (highest priority, oldest first); frees its slot for a waiting sender."""
        entry = heappop(self._heap)  # type: ignore[arg-type]
        if self._backlog is not None:
            self._wake_sender()
        return entry

    def release_if_empty(self) -> None:
        """Drop the empty queue's list and an unused backlog: what makes an idle mailbox small."""
        if not self._heap:
            self._heap = None
        backlog = self._backlog
        if backlog is not None and not backlog.waiters and not backlog.reserved:
            self._backlog = None

    def take_all(self) -> list[Entry]:
        """Remove and return every queued entry, in processing order."""
        entries = sorted(self._heap or ())
        self._heap = None
        return entries

    def fail_waiting_senders(self, error: AgentError) -> None:
        """Wake every sender waiting for room with ``error`` (the agent will take no more)."""
        backlog = self._backlog
        if backlog is None:
            return
        waiters, backlog.waiters = backlog.waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()  # retrieved here: a sender that was cancelled meanwhile must not warn

    def _wake_sender(self) -> None:
        backlog = self._backlog
        if backlog is None:
            return
        waiters = backlog.waiters
        while waiters and self.depth + backlog.reserved < self.capacity:
            waiter = waiters.popleft()
            if not waiter.done():
                backlog.reserved += 1
                waiter.set_result(None)

    def mailbox_stats(self) -> MailboxStats:
        return MailboxStats(
            depth=self.depth,
            max_depth=self.max_depth,
            capacity=self.capacity,
            enqueued=self.enqueued,
            processed=self.processed,
            failed=self.failed,
            processing_seconds=self.busy_time,
            waiting_senders=len(self._backlog.waiters) if self._backlog is not None else 0,
        )
