"""What subscribers of an agent receive, and the bounded subscription that delivers it.

Every event names its agent and when it happened (epoch seconds). A
subscription holds at most ``buffer`` undelivered events; when a slow
subscriber lets it fill up, newer events are dropped (the agent never waits for
a subscriber) and the subscriber receives one :class:`EventsDropped` saying how
many it missed, in the place where they were missed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from types import TracebackType
from typing import Any, ClassVar

__all__ = [
    "ActivityFailed",
    "ActivityProcessed",
    "AgentEvent",
    "AgentRestarted",
    "EventsDropped",
    "StateChanged",
    "StatusChanged",
    "Subscription",
]


@dataclass(slots=True, frozen=True, kw_only=True)
class AgentEvent:
    """Base of agent events. ``kind`` names the event class in logs, SSE streams and JSON."""

    kind: ClassVar[str] = "event"
    agent: str
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-compatible data (``kind`` first); errors become type and message."""
        data: dict[str, Any] = {"kind": self.kind}
        for item in fields(self):
            data[item.name] = getattr(self, item.name)
        return data


@dataclass(slots=True, frozen=True, kw_only=True)
class StatusChanged(AgentEvent):
    """The agent's status changed (``idle``, ``processing``, ``error``, ``terminated``); ``reason`` says why
    when it was not the ordinary course of work."""

    kind: ClassVar[str] = "status"
    status: str
    reason: str | None = None


@dataclass(slots=True, frozen=True, kw_only=True)
class StateChanged(AgentEvent):
    """An activity changed the agent's state; ``state`` is the new state as JSON-compatible data."""

    kind: ClassVar[str] = "state"
    activity: str | None
    state: Any


@dataclass(slots=True, frozen=True, kw_only=True)
class ActivityProcessed(AgentEvent):
    """An activity was processed; ``result`` is what the handler returned."""

    kind: ClassVar[str] = "result"
    activity: str
    type: str
    result: Any
    seconds: float


@dataclass(slots=True, frozen=True, kw_only=True)
class ActivityFailed(AgentEvent):
    """An activity's handler raised ``error``."""

    kind: ClassVar[str] = "error"
    activity: str
    type: str
    error: BaseException
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        data = AgentEvent.as_dict(self)
        data["error"] = {"type": type(self.error).__name__, "message": str(self.error)}
        return data


@dataclass(slots=True, frozen=True, kw_only=True)
class AgentRestarted(AgentEvent):
    """The supervisor restarted the agent after a failure, from its last saved state."""

    kind: ClassVar[str] = "restarted"
    restarts: int
    """Restarts within the current window, this one included."""


@dataclass(slots=True, frozen=True, kw_only=True)
class EventsDropped(AgentEvent):
    """The subscriber fell behind: ``count`` events were dropped here rather than make the agent wait."""

    kind: ClassVar[str] = "dropped"
    count: int


class Subscription:
    """An async iterator over one agent's events, bounded to ``buffer`` undelivered events.

    It ends after the agent terminates (its last event is the ``terminated``
    status), when the runtime closes, or when :meth:`aclose` is called. Use it
    as ``async for event in subscription`` or ``async with rt.agents.subscribe(id) as events``.
    """

    __slots__ = ("_buffer", "_closed", "_dropped", "_events", "_on_close", "_waiter", "agent")

    def __init__(self, agent: str, buffer: int, on_close: Callable[[Subscription], None]) -> None:
        if buffer < 1:
            raise ValueError(f"a subscription's buffer must hold at least one event, got {buffer}")
        self.agent = agent
        self._buffer = buffer
        self._events: deque[AgentEvent] = deque()
        self._dropped = 0
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._on_close = on_close

    @property
    def pending(self) -> int:
        """Events received and not yet read."""
        return len(self._events)

    def publish(self, event: AgentEvent) -> None:
        """Queue ``event`` for the subscriber, or count it as dropped when the buffer is full. Never waits."""
        if self._closed:
            return
        events = self._events
        if len(events) >= self._buffer:
            self._dropped += 1
            return
        if self._dropped:
            # The marker may take the buffer one over its size: the subscriber must learn about the gap.
            events.append(EventsDropped(agent=self.agent, count=self._dropped))
            self._dropped = 0
        events.append(event)
        self._wake()

    def end(self) -> None:
        """No more events will come: the iterator stops once the queued ones are read."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> AgentEvent:
        while True:
            if self._events:
                return self._events.popleft()
            if self._dropped:
                count, self._dropped = self._dropped, 0
                return EventsDropped(agent=self.agent, count=count)
            if self._closed:
                self._detach()
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def aclose(self) -> None:
        """Stop receiving events; safe to call more than once."""
        self._closed = True
        self._events.clear()
        self._dropped = 0
        self._detach()
        self._wake()

    def _detach(self) -> None:
        on_close, self._on_close = self._on_close, _ignore
        on_close(self)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _ignore(subscription: Subscription) -> None:
    return None
