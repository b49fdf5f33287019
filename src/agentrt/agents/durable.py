"""``StoreAgentStore``: durable agents in the runtime's SQL store (SQLite by default, PostgreSQL).

Two tables, migrated as component ``agents``:

- ``agentrt_agents``: one row per durable agent: type, state (JSON text),
  status (``active``, ``failed`` or ``terminated``), why it failed or was
  terminated, how many activities it processed, when it was created and last
  updated, whom it belongs to (``owner_user``, ``owner_tenant``), the activity
  being processed (``in_flight``), and its lease (``lease_owner``,
  ``lease_token``, ``lease_expires_at``);
- ``agentrt_agent_journal``: the activities accepted and not yet completed,
  keyed by ``(agent_id, seq)``; ``seq`` orders them as they were accepted;
  ``sender`` is the principal that sent each (JSON).

Writes are group-committed: journal rows and completions that arrive while a
transaction is being written wait for the next one, and go in together. Each
caller still returns only once its own write committed, so a ``tell`` that
returned is journaled, and an activity's completion and the state it left are
saved in the same transaction, whatever else shares it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Final

from agentrt.agents.persistence import (
    StoredActivity,
    StoredAgent,
    decode_activity,
    encode_payload,
    encode_principal,
)
from agentrt.calls.principal import Principal

if TYPE_CHECKING:
    from agentrt.agents.activity import Activity
    from agentrt.store import Store

__all__ = ["AGENT_MIGRATIONS", "StoreAgentStore"]


AGENT_MIGRATIONS: Final[list[str | dict[str, str]]] = [
    """
    CREATE TABLE agentrt_agents (
        agent_id TEXT PRIMARY KEY,
        agent_type TEXT NOT NULL,
        state TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        processed BIGINT NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE agentrt_agent_journal (
        agent_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        activity_id TEXT NOT NULL,
        activity_type TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority BIGINT NOT NULL,
        correlation_id TEXT,
        reply_to TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (agent_id, seq)
    )
    """,
    """
    ALTER TABLE agentrt_agents ADD COLUMN owner_user TEXT;
    ALTER TABLE agentrt_agents ADD COLUMN owner_tenant TEXT;
    ALTER TABLE agentrt_agents ADD COLUMN in_flight BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE agentrt_agents ADD COLUMN lease_owner TEXT;
    ALTER TABLE agentrt_agents ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE agentrt_agents ADD COLUMN lease_expires_at DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE agentrt_agent_journal ADD COLUMN sender TEXT
    """,
]
"""The ``agents`` component's schema versions."""

_JOURNAL: Final = (
    "INSERT INTO agentrt_agent_journal (agent_id, seq, activity_id, activity_type, payload, priority, "
    "correlation_id, reply_to, created_at, sender) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_ACTIVITY: Final = "DELETE FROM agentrt_agent_journal WHERE agent_id = ? AND seq = ?"
_SAVE_STATE: Final = (
    "UPDATE agentrt_agents SET state = ?, processed = processed + 1, in_flight = ?, updated_at = ? "
    "WHERE agent_id = ?"
)
_START: Final = "UPDATE agentrt_agents SET in_flight = ? WHERE agent_id = ?"
_UPSERT_AGENT: Final = (
    "INSERT INTO agentrt_agents (agent_id, agent_type, state, status, reason, processed, created_at, updated_at, "
    "owner_user, owner_tenant, in_flight) "
    "VALUES (?, ?, ?, 'active', NULL, 0, ?, ?, ?, ?, 0) ON CONFLICT (agent_id) DO UPDATE SET "
    "agent_type = excluded.agent_type, state = excluded.state, status = 'active', reason = NULL, processed = 0, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at, owner_user = excluded.owner_user, "
    "owner_tenant = excluded.owner_tenant, in_flight = 0"
)
_AGENT_COLUMNS: Final = (
    "agent_id, agent_type, state, status, reason, processed, created_at, updated_at, owner_user, owner_tenant, "
    "in_flight"
)
_JOURNAL_COLUMNS: Final = (
    "agent_id, seq, activity_id, activity_type, payload, priority, correlation_id, reply_to, created_at, sender"
)

_Write = tuple[str, tuple[Any, ...], "asyncio.Future[None]"]


class StoreAgentStore:
    """An ``AgentStore`` on an open :class:`agentrt.store.Store` (which it neither opens nor closes)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.store.migrate("agents", AGENT_MIGRATIONS)

    async def next_seq(self) -> int:
        row = await self.store.fetchone("SELECT MAX(seq) FROM agentrt_agent_journal")
        return int(row[0]) + 1 if row is not None and row[0] is not None else 1

    async def load(self) -> list[StoredAgent]:
        agents = await self.store.fetchall(
            f"SELECT {_AGENT_COLUMNS} FROM agentrt_agents WHERE status <> 'terminated' ORDER BY agent_id"
        )
        journal = await self.store.fetchall(
            f"SELECT {_JOURNAL_COLUMNS} FROM agentrt_agent_journal ORDER BY agent_id, seq"
        )
        pending: dict[str, list[StoredActivity]] = {}
        for row in journal:
            pending.setdefault(row[0], []).append(_stored_activity(row))
        return [_stored_agent(row, pending.get(row[0], [])) for row in agents]

    async def get(self, agent_id: str) -> StoredAgent | None:
        row = await self.store.fetchone(f"SELECT {_AGENT_COLUMNS} FROM agentrt_agents WHERE agent_id = ?", (agent_id,))
        if row is None:
            return None
        journal = await self.store.fetchall(
            f"SELECT {_JOURNAL_COLUMNS} FROM agentrt_agent_journal WHERE agent_id = ? ORDER BY seq", (agent_id,)
        )
        return _stored_agent(row, [_stored_activity(r) for r in journal])

    async def list_agents(self) -> list[StoredAgent]:
        """Every agent in the store, terminated ones too, without their journals (``pending`` left empty)."""
        rows = await self.store.fetchall(f"SELECT {_AGENT_COLUMNS} FROM agentrt_agents ORDER BY agent_id")
        counts: dict[str, int] = dict(
            await self.store.fetchall("SELECT agent_id, COUNT(*) FROM agentrt_agent_journal GROUP BY agent_id")
        )
        agents = [_stored_agent(row, []) for row in rows]
        for agent in agents:
            agent.pending_count = int(counts.get(agent.id, 0))
        return agents

    async def save_agent(self, agent_id: str, agent_type: str, state: str, owner: Principal | None = None) -> None:
        now = time.time()
        owner_user, owner_tenant = (owner.user, owner.tenant) if owner is not None else (None, None)
        async with self.store.transaction() as tx:
            await tx.execute("DELETE FROM agentrt_agent_journal WHERE agent_id = ?", (agent_id,))
            await tx.execute(_UPSERT_AGENT, (agent_id, agent_type, state, now, now, owner_user, owner_tenant))

    async def journal(self, agent_id: str, seq: int, activity: Activity) -> None:
        payload = encode_payload(agent_id, activity.payload)  # before queueing: a bad payload fails alone
        row = (
            agent_id,
            seq,
            activity.id,
            activity.type,
            payload,
            activity.priority,
            activity.correlation_id,
            activity.reply_to,
            activity.created_at,
            encode_principal(activity.sender),
        )
        await self._write("journal", row)

    async def start(self, agent_id: str, seq: int) -> None:
        await self._write("start", (agent_id, seq))

    async def complete(self, agent_id: str, seq: int, state: str, next_seq: int = 0) -> None:
        await self._write("complete", (agent_id, seq, state, next_seq))

    async def fail(self, agent_id: str, reason: str) -> None:
        await self.store.execute(
            "UPDATE agentrt_agents SET status = 'failed', reason = ?, updated_at = ? WHERE agent_id = ?",
            (reason, time.time(), agent_id),
        )

    async def resume(self, agent_id: str) -> bool:
        changed = await self.store.execute(
            "UPDATE agentrt_agents SET status = 'active', reason = NULL, updated_at = ? "
            "WHERE agent_id = ? AND status = 'failed'",
            (time.time(), agent_id),
        )
        return changed > 0

    async def renew(self) -> tuple[list[str], list[StoredAgent]]:
        return [], []

    async def release(self) -> None:
        return None

    async def terminate(self, agent_id: str, reason: str | None) -> int:
        async with self.store.transaction() as tx:
            dropped = await tx.execute("DELETE FROM agentrt_agent_journal WHERE agent_id = ?", (agent_id,))
            await tx.execute(
                "UPDATE agentrt_agents SET status = 'terminated', reason = ?, updated_at = ? WHERE agent_id = ?",
                (reason, time.time(), agent_id),
            )
        return max(dropped, 0)

    # --- group commit ---------------------------------------------------------------------------

    async def _write(self, kind: str, row: tuple[Any, ...]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((kind, row, done))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_batches())
        await done

    async def _write_batches(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._commit(batch)
                except Exception as err:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(err)
                            done.exception()  # a caller that gave up must not leave a warning behind
                else:
                    for _, _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._writer = None

    async def _commit(self, batch: list[_Write]) -> None:
        now = time.time()
        journal = [row for kind, row, _ in batch if kind == "journal"]
        started = [(seq, agent) for kind, (agent, seq, *_), _ in batch if kind == "start"]
        completed = [row for kind, row, _ in batch if kind == "complete"]
        async with self.store.transaction() as tx:
            if journal:
                await tx.executemany(_JOURNAL, journal)
            if completed:
                await tx.executemany(_DELETE_ACTIVITY, [(agent, seq) for agent, seq, _, _ in completed])
                # In order: an agent completing twice in one batch ends with its latest state.
                await tx.executemany(
                    _SAVE_STATE, [(state, next_seq, now, agent) for agent, _, state, next_seq in completed]
                )
            if started:
                # After the completions: an agent's start follows the completion of its previous activity.
                await tx.executemany(_START, started)


def _stored_activity(row: tuple[Any, ...]) -> StoredActivity:
    _, seq, activity_id, activity_type, payload, priority, correlation_id, reply_to, created_at, sender = row
    return StoredActivity(
        int(seq),
        decode_activity(
            id=activity_id,
            type=activity_type,
            payload=payload,
            priority=int(priority),
            correlation_id=correlation_id,
            reply_to=reply_to,
            created_at=float(created_at),
            sender=sender,
        ),
    )


def _stored_agent(row: tuple[Any, ...], pending: list[StoredActivity]) -> StoredAgent:
    agent_id, agent_type, state, status, reason, processed, created_at, updated_at, owner_user, owner_tenant = row[:10]
    owner = Principal(owner_user, owner_tenant) if owner_user is not None or owner_tenant is not None else None
    return StoredAgent(
        agent_id,
        agent_type,
        state,
        status,
        reason,
        float(created_at),
        float(updated_at),
        pending,
        processed=int(processed),
        pending_count=len(pending),
        owner=owner,
        in_flight=int(row[10] or 0),
    )
