"""Activities: the messages agents process, and their priorities.

An activity is what ``tell`` and ``ask`` put into an agent's mailbox. Higher
priorities are processed first (``critical > high > normal > low``); within a
priority, activities are processed in the order they arrived.
"""

from __future__ import annotations

import enum
import itertools
import os
import time
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from agentrt.calls import Principal

__all__ = ["Activity", "Priority", "PriorityLike", "priority_value"]


class Priority(enum.IntEnum):
    """The named priorities. Any int is a priority too: higher is processed first."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3


PriorityLike: TypeAlias = Priority | int | str
"""A priority as callers write it: ``"high"``, ``Priority.HIGH`` or ``2``."""

_BY_NAME: dict[str, int] = {p.name.lower(): int(p) for p in Priority}


def priority_value(priority: PriorityLike) -> int:
    """The int value of ``priority`` (a name, a :class:`Priority` or an int); ``ValueError`` otherwise."""
    if priority.__class__ is str:  # the common case first: names, as written in code and config
        value = _BY_NAME.get(priority)
        if value is None:
            value = _BY_NAME.get(str(priority).lower())
        if value is not None:
            return value
        raise ValueError(
            f"unknown priority {priority!r}: use one of critical, high, normal, low, or an int (higher first)"
        )
    if isinstance(priority, int) and not isinstance(priority, bool):
        return int(priority)
    raise ValueError(
        f"a priority is a name (critical, high, normal, low) or an int, not {type(priority).__name__}"
    )


# Activity ids are unique across processes without a uuid4() per activity (~1 µs each):
# a random prefix per process, then a counter.
_ID_PREFIX = os.urandom(4).hex()
_next_number = itertools.count(1).__next__


class Activity:
    """One message for an agent.

    ``id`` is unique; ``type`` names the kind of activity (``"message"`` unless
    the sender says otherwise), ``payload`` is what the sender sent.
    ``correlation_id`` ties together the activities of one piece of work (the
    activity's own id unless the sender gives one; ``ctx.send`` and ``ctx.ask``
    pass the current activity's on); ``reply_to`` is the id of the agent that
    sent it, if an agent did. ``redelivered`` is True when a durable agent gets
    the activity again after its process stopped while it was being processed
    (or was next, its predecessor just saved): its side effects may have
    happened already. The activities waiting behind it are not flagged.
    ``created_at`` is epoch seconds. ``sender`` is the principal that sent it
    (None: sent from code that named none); the activity's model calls run as
    that principal unless the agent type names its own.

    ``id`` is the activity's idempotency key: it stays the same when a durable
    agent gets the activity again after a crash, so a handler whose side effects
    must happen once can record the ids it has acted on.
    """

    # The id is made from a number on first use: most activities of a busy agent are never
    # asked for theirs, and formatting it costs more than the rest of the activity.
    __slots__ = (
        "_correlation",
        "_id",
        "_number",
        "_waiting",
        "created_at",
        "payload",
        "priority",
        "redelivered",
        "reply_to",
        "sender",
        "type",
    )

    def __init__(
        self,
        payload: Any = None,
        *,
        type: str = "message",
        priority: PriorityLike = Priority.NORMAL,
        id: str | None = None,
        correlation_id: str | None = None,
        reply_to: str | None = None,
        created_at: float | None = None,
        redelivered: bool = False,
        sender: Principal | None = None,
    ) -> None:
        self._id: str | None = id
        self._number = 0 if id is not None else _next_number()
        self.type: str = type
        self.payload: Any = payload
        self.priority: int = (
            priority if priority.__class__ is int else _BY_NAME.get(priority) or priority_value(priority)  # type: ignore[arg-type]
        )
        self._correlation: str | None = correlation_id
        self.created_at: float = created_at if created_at is not None else time.time()
        self.redelivered: bool = redelivered
        self.reply_to: str | None = reply_to
        self.sender: Principal | None = sender
        # The agents waiting (by ctx.ask, through other hosts) for this activity's answer: how a Ray shard
        # host sees an ask cycle that crosses hosts. None: nobody, or all on this host (the runtime sees those).
        self._waiting: tuple[str, ...] | None = None

    @classmethod
    def _new(
        cls,
        payload: Any,
        type: str,
        priority: int,
        reply_to: str | None,
        correlation_id: str | None,
        sender: Principal | None = None,
    ) -> Activity:
        """The runtime's constructor for a fresh activity (no keyword parsing: the tell/ask hot path)."""
        activity = cls.__new__(cls)
        activity._id = None
        activity._number = _next_number()
        activity.type = type
        activity.payload = payload
        activity.priority = priority
        activity._correlation = correlation_id
        activity.created_at = time.time()
        activity.redelivered = False
        activity.reply_to = reply_to
        activity.sender = sender
        activity._waiting = None
        return activity

    @property
    def id(self) -> str:
        activity_id = self._id
        if activity_id is None:
            activity_id = self._id = f"{_ID_PREFIX}-{self._number:x}"
        return activity_id

    @property
    def correlation_id(self) -> str:
        return self._correlation or self.id

    @property
    def priority_name(self) -> str:
        """``"high"`` for the named priorities, the number as text for others."""
        try:
            return Priority(self.priority).name.lower()
        except ValueError:
            return str(self.priority)

    def __repr__(self) -> str:
        return (
            f"Activity(id={self.id!r}, type={self.type!r}, priority={self.priority_name}, "
            f"payload={self.payload!r}{', redelivered=True' if self.redelivered else ''})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Activity):
            return NotImplemented
        fields = (
            "id", "type", "payload", "priority", "correlation_id", "created_at", "redelivered", "reply_to", "sender"
        )
        return all(getattr(self, name) == getattr(other, name) for name in fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value
