"""Where durable agents keep their state and their mailbox journal: the ``AgentStore`` protocol.

The runtime needs these of a store, and the guarantees that go with them:

- ``journal`` an accepted activity before ``tell`` returns;
- ``start`` marks the activity being processed (so that after a crash only
  that one is redelivered); ``complete`` a processed activity and save the
  agent's state in one transaction (both happen, or neither), marking the next
  one started in the same write;
- ``save_agent`` when an agent is spawned, ``terminate`` when it stops for good
  (its pending activities are dropped with it), ``fail`` and ``resume`` when
  the supervisor gives up on it and someone brings it back (its journal kept);
- ``load`` the agents to restore at start: their last saved state and the
  activities accepted but not completed, in the order they were accepted.

:class:`MemoryAgentStore` keeps all of it in dicts (tests, and runtimes without a
store); :class:`~agentrt.agents.durable.StoreAgentStore` puts it in the
configured SQL store (SQLite by default, PostgreSQL).

States and payloads travel as JSON text: what a durable agent is given must be
JSON-serialisable (pydantic models and dataclasses are); on redelivery after a
crash, a payload comes back as plain JSON data (dicts, lists, strings, numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson
from pydantic_core import to_jsonable_python

from agentrt.agents.activity import Activity
from agentrt.calls.principal import Principal
from agentrt.errors import AgentError

__all__ = [
    "AgentStore",
    "LeaseLost",
    "MemoryAgentStore",
    "StoredActivity",
    "StoredAgent",
    "decode_principal",
    "encode_payload",
    "encode_principal",
]


class LeaseLost(AgentError):
    """The store refused a write: another process sharing it holds the agent's lease now."""


@dataclass(slots=True)
class StoredActivity:
    """A journaled activity: its place in the agent's mailbox order (``seq``) and the activity."""

    seq: int
    activity: Activity


@dataclass(slots=True)
class StoredAgent:
    """A durable agent as the store holds it."""

    id: str
    type: str
    state: str  # JSON text
    status: str  # "active", "failed" or "terminated"
    reason: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    pending: list[StoredActivity] = field(default_factory=list)
    processed: int = 0
    pending_count: int = 0
    owner: Principal | None = None
    in_flight: int = 0
    """The seq of the activity that was being processed when the agent was last saved (0: none)."""


@runtime_checkable
class AgentStore(Protocol):
    """What the agent runtime asks of the place durable agents live."""

    async def open(self) -> None:
        """Prepare the store (create or migrate its tables). Called once when the agent runtime starts."""
        ...

    async def next_seq(self) -> int:
        """A sequence number above every journaled one, so new activities sort after the old."""
        ...

    async def load(self) -> list[StoredAgent]:
        """Every agent not terminated (active or failed) that this process may run, with its pending
        activities in accepted order. A store shared by processes leases each one to this process."""
        ...

    async def get(self, agent_id: str) -> StoredAgent | None:
        """One agent (terminated too) with its pending activities; None when unknown."""
        ...

    async def save_agent(self, agent_id: str, agent_type: str, state: str, owner: Principal | None = None) -> None:
        """Create (or replace, dropping its old journal) an active agent with this state."""
        ...

    async def journal(self, agent_id: str, seq: int, activity: Activity, start: bool = False) -> None:
        """Record an accepted activity. Durable before this returns. ``start``: the agent is idle, so the
        activity is the next processed: mark it started in the same write (saves a ``start``)."""
        ...

    async def start(self, agent_id: str, seq: int) -> None:
        """Mark activity ``seq`` as the one being processed. Durable before this returns."""
        ...

    async def complete(self, agent_id: str, seq: int, state: str, next_seq: int = 0) -> None:
        """Remove the activity from the journal and save the state, in one transaction; ``next_seq`` (0: none)
        is marked as the one being processed from then on."""
        ...

    async def terminate(self, agent_id: str, reason: str | None) -> int:
        """Mark the agent terminated and drop its pending activities; returns how many were dropped."""
        ...

    async def fail(self, agent_id: str, reason: str) -> None:
        """Mark the agent failed with ``reason``; its state and journal stay."""
        ...

    async def resume(self, agent_id: str) -> bool:
        """Mark a failed agent active again; False when it is not failed."""
        ...

    async def renew(self) -> tuple[list[str], list[StoredAgent]]:
        """Keep this process's leases: returns the agents it lost (another process took them over, or they
        were terminated elsewhere) and those it took over (their lease had lapsed), to restore."""
        ...

    async def release(self) -> None:
        """Give up this process's leases (it is closing): another process may take its agents at once."""
        ...


def encode_payload(agent: str, payload: Any) -> str:
    """``payload`` as JSON text, or an ``AgentError`` saying why a durable agent cannot take it."""
    try:
        return orjson.dumps(payload, default=to_jsonable_python).decode()
    except (TypeError, ValueError) as err:
        raise AgentError(
            f"agent {agent!r} is durable, so what it is sent must be JSON-serialisable "
            f"(dicts, lists, str, numbers, pydantic models, dataclasses): {err}",
            agent=agent,
        ) from None


def encode_principal(principal: Principal | None) -> str | None:
    """A sender as JSON text for the journal (None stays None)."""
    if principal is None:
        return None
    return orjson.dumps(
        {"user": principal.user, "tenant": principal.tenant, "api_key": principal.api_key, "tags": principal.tags}
    ).decode()


def decode_principal(text: str | None) -> Principal | None:
    if text is None:
        return None
    data = orjson.loads(text)
    return Principal(data.get("user"), data.get("tenant"), data.get("api_key"), tuple(data.get("tags") or ()))


def decode_activity(
    *,
    id: str,
    type: str,
    payload: str,
    priority: int,
    correlation_id: str | None,
    reply_to: str | None,
    created_at: float,
    sender: str | None = None,
) -> Activity:
    """An activity read back from a journal (the runtime flags the one that was in flight ``redelivered``)."""
    return Activity(
        orjson.loads(payload),
        id=id,
        type=type,
        priority=int(priority),
        correlation_id=correlation_id,
        reply_to=reply_to,
        created_at=float(created_at),
        sender=decode_principal(sender),
    )


@dataclass(slots=True)
class _MemoryRecord:
    agent: StoredAgent
    journal: dict[int, tuple[str, Activity]] = field(default_factory=dict)


class MemoryAgentStore:
    """An ``AgentStore`` in this process's memory: it survives restarts of agents, not of the process.

    It copies what it is given through JSON, exactly as a real store does, so a
    payload or state that would not survive a real store fails here too.
    """

    def __init__(self) -> None:
        self._records: dict[str, _MemoryRecord] = {}
        self._seq = 0

    async def open(self) -> None:
        return None

    async def next_seq(self) -> int:
        return self._seq + 1

    async def load(self) -> list[StoredAgent]:
        return [self._snapshot(r) for r in self._records.values() if r.agent.status != "terminated"]

    async def get(self, agent_id: str) -> StoredAgent | None:
        record = self._records.get(agent_id)
        return self._snapshot(record) if record is not None else None

    async def save_agent(self, agent_id: str, agent_type: str, state: str, owner: Principal | None = None) -> None:
        import time

        now = time.time()
        self._records[agent_id] = _MemoryRecord(
            StoredAgent(agent_id, agent_type, state, "active", None, now, now, owner=owner)
        )

    async def journal(self, agent_id: str, seq: int, activity: Activity, start: bool = False) -> None:
        record = self._require(agent_id)
        self._seq = max(self._seq, seq)
        record.journal[seq] = (encode_payload(agent_id, activity.payload), activity)
        if start:
            record.agent.in_flight = seq

    async def start(self, agent_id: str, seq: int) -> None:
        self._require(agent_id).agent.in_flight = seq

    async def complete(self, agent_id: str, seq: int, state: str, next_seq: int = 0) -> None:
        import time

        record = self._require(agent_id)
        record.journal.pop(seq, None)
        record.agent.processed += 1
        record.agent.state = state
        record.agent.in_flight = next_seq
        record.agent.updated_at = time.time()

    async def terminate(self, agent_id: str, reason: str | None) -> int:
        record = self._records.get(agent_id)
        if record is None:
            return 0
        dropped = len(record.journal)
        record.journal.clear()
        record.agent.status = "terminated"
        record.agent.reason = reason
        return dropped

    async def fail(self, agent_id: str, reason: str) -> None:
        record = self._require(agent_id)
        record.agent.status = "failed"
        record.agent.reason = reason

    async def resume(self, agent_id: str) -> bool:
        record = self._records.get(agent_id)
        if record is None or record.agent.status != "failed":
            return False
        record.agent.status = "active"
        record.agent.reason = None
        return True

    async def renew(self) -> tuple[list[str], list[StoredAgent]]:
        return [], []  # one process: nobody to lose an agent to

    async def release(self) -> None:
        return None

    def _require(self, agent_id: str) -> _MemoryRecord:
        record = self._records.get(agent_id)
        if record is None:
            raise AgentError(f"agent {agent_id!r} is not in the agent store: spawn it first", agent=agent_id)
        return record

    def _snapshot(self, record: _MemoryRecord) -> StoredAgent:
        agent = record.agent
        pending = [
            StoredActivity(
                seq,
                decode_activity(
                    id=activity.id,
                    type=activity.type,
                    payload=payload,
                    priority=activity.priority,
                    correlation_id=activity.correlation_id,
                    reply_to=activity.reply_to,
                    created_at=activity.created_at,
                    sender=encode_principal(activity.sender),
                ),
            )
            for seq, (payload, activity) in sorted(record.journal.items())
        ]
        return StoredAgent(
            agent.id,
            agent.type,
            agent.state,
            agent.status,
            agent.reason,
            agent.created_at,
            agent.updated_at,
            pending,
            agent.processed,
            len(pending),
            agent.owner,
            agent.in_flight,
        )
