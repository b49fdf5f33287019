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

Several processes may share one store (PostgreSQL, or a SQLite file). Each
durable agent is run by one of them at a time: the one holding its lease. A
lease names its holder (``lease_owner``), lasts ``lease_ttl`` seconds unless
renewed (every third of it, and by every write), and carries a fencing token
that grows each time the lease changes hands. Every write checks the token in
its own transaction, so a process that lost its lease (paused past its expiry
while another took the agent over) has its writes refused, never mixed in.
A process takes the free agents at start, and those whose lease lapsed (their
process died) when it renews; it gives its leases back when it closes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any, Final

from agentrt.agents.persistence import (
    LeaseLost,
    StoredActivity,
    StoredAgent,
    decode_activity,
    encode_payload,
    encode_principal,
)
from agentrt.calls.principal import Principal
from agentrt.errors import AgentError

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

# Taking a lease: free (never held, given back) or lapsed, and not terminated. The token grows with each
# change of hands; a process re-taking its own lease keeps counting from there too.
_TAKE_FREE: Final = (
    "UPDATE agentrt_agents SET lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ? "
    "WHERE status <> 'terminated' AND (lease_owner IS NULL OR lease_expires_at < ?)"
)
# The fence: true (one row) only while this process holds the lease with this token. It also extends the
# lease, and on PostgreSQL locks the row, so a takeover waits for this transaction to end.
_FENCE: Final = (
    "UPDATE agentrt_agents SET lease_expires_at = ? WHERE agent_id = ? AND lease_owner = ? AND lease_token = ?"
)

_Write = tuple[str, tuple[Any, ...], "asyncio.Future[None]"]


class StoreAgentStore:
    """An ``AgentStore`` on an open :class:`agentrt.store.Store` (which it neither opens nor closes).

    ``lease_ttl`` (seconds) is how long this process's hold on an agent lasts without renewal: after it
    dies, another process sharing the store takes its agents over within about that long.
    """

    def __init__(self, store: Store, *, lease_ttl: float = 15.0, owner_id: str | None = None) -> None:
        if lease_ttl <= 0:
            raise ValueError(f"lease_ttl must be positive, got {lease_ttl}")
        self.store = store
        self.lease_ttl = lease_ttl
        self.owner_id = owner_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tokens: dict[str, int] = {}  # the leases this process holds: agent -> fencing token
        self._pending: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None

    def holds(self, agent_id: str) -> bool:
        """Whether this process holds the agent's lease (as far as it knows: a write finds out for sure)."""
        return agent_id in self._tokens

    async def open(self) -> None:
        await self.store.migrate("agents", AGENT_MIGRATIONS)

    async def next_seq(self) -> int:
        row = await self.store.fetchone("SELECT MAX(seq) FROM agentrt_agent_journal")
        return int(row[0]) + 1 if row is not None and row[0] is not None else 1

    async def load(self) -> list[StoredAgent]:
        """Every agent not terminated whose lease is free or lapsed, leased to this process now (with those
        it held already); agents another live process runs are left to it."""
        now = time.time()
        await self._take_from_the_dead(now)
        await self._take_free(now)
        return await self._leased(set())

    async def _take_free(self, now: float) -> int:
        """Lease to this process the agents whose lease is free or lapsed; returns how many it took."""
        return await self.store.execute(_TAKE_FREE, (self.owner_id, now + self.lease_ttl, now))

    async def _take_from_the_dead(self, now: float) -> int:
        """Take over at once the live leases of processes of this host that are gone (a crash, then a
        restart): waiting for them to lapse would hold the agents up for a whole ``lease_ttl``. Returns
        how many agents it took."""
        rows = await self.store.fetchall(
            "SELECT DISTINCT lease_owner FROM agentrt_agents WHERE lease_owner IS NOT NULL AND lease_owner <> ? "
            "AND lease_expires_at >= ? AND status <> 'terminated'",
            (self.owner_id, now),
        )
        taken = 0
        for (holder,) in rows:
            if _is_gone(holder):
                taken += await self.store.execute(
                    "UPDATE agentrt_agents SET lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ? "
                    "WHERE lease_owner = ? AND status <> 'terminated'",
                    (self.owner_id, now + self.lease_ttl, holder),
                )
        return taken

    async def _leased(self, known: set[str]) -> list[StoredAgent]:
        """The agents this process holds the lease of, but those in ``known``, with their journals."""
        held = await self.store.fetchall(
            f"SELECT {_AGENT_COLUMNS}, lease_token FROM agentrt_agents "
            "WHERE lease_owner = ? AND status <> 'terminated' ORDER BY agent_id",
            (self.owner_id,),
        )
        fresh = [row for row in held if row[0] not in known]
        if not fresh:
            return []
        journal = await self.store.fetchall(
            f"SELECT {_JOURNAL_COLUMNS} FROM agentrt_agent_journal WHERE agent_id IN "
            "(SELECT agent_id FROM agentrt_agents WHERE lease_owner = ?) ORDER BY agent_id, seq",
            (self.owner_id,),
        )
        pending: dict[str, list[StoredActivity]] = {}
        for row in journal:
            if row[0] not in known:
                pending.setdefault(row[0], []).append(_stored_activity(row))
        for row in fresh:
            self._tokens[row[0]] = int(row[-1])
        return [_stored_agent(row[:-1], pending.get(row[0], [])) for row in fresh]

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
        """Create (or replace) the agent, leased to this process; an agent another live process runs is an
        ``AgentError`` (terminate it there first)."""
        now = time.time()
        owner_user, owner_tenant = (owner.user, owner.tenant) if owner is not None else (None, None)
        async with self.store.transaction() as tx:
            row = await tx.fetchone(
                "SELECT status, lease_owner, lease_expires_at FROM agentrt_agents WHERE agent_id = ?", (agent_id,)
            )
            if row is not None and row[0] != "terminated" and row[1] not in (None, self.owner_id) and row[2] >= now:
                raise AgentError(
                    f"agent {agent_id!r} is run by another process sharing the store ({row[1]}): terminate it "
                    "there, or pick another id",
                    agent=agent_id,
                )
            await tx.execute("DELETE FROM agentrt_agent_journal WHERE agent_id = ?", (agent_id,))
            await tx.execute(_UPSERT_AGENT, (agent_id, agent_type, state, now, now, owner_user, owner_tenant))
            await tx.execute(
                "UPDATE agentrt_agents SET lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ? "
                "WHERE agent_id = ?",
                (self.owner_id, now + self.lease_ttl, agent_id),
            )
            token = await tx.fetchone("SELECT lease_token FROM agentrt_agents WHERE agent_id = ?", (agent_id,))
        assert token is not None
        self._tokens[agent_id] = int(token[0])

    async def journal(self, agent_id: str, seq: int, activity: Activity, start: bool = False) -> None:
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
        # ``start``: the agent is idle, so this one is processed next: marked in flight in the same write.
        await self._write("journal+start" if start else "journal", row)

    async def start(self, agent_id: str, seq: int) -> None:
        await self._write("start", (agent_id, seq))

    async def complete(self, agent_id: str, seq: int, state: str, next_seq: int = 0) -> None:
        await self._write("complete", (agent_id, seq, state, next_seq))

    async def fail(self, agent_id: str, reason: str) -> None:
        async with self.store.transaction() as tx:
            await self._fence(tx, agent_id)
            await tx.execute(
                "UPDATE agentrt_agents SET status = 'failed', reason = ?, updated_at = ? WHERE agent_id = ?",
                (reason, time.time(), agent_id),
            )

    async def resume(self, agent_id: str) -> bool:
        """Mark a failed agent active. From a process that holds it, fenced; from elsewhere (the CLI), the
        holder notices when it renews its lease and resumes the agent itself."""
        sql = (
            "UPDATE agentrt_agents SET status = 'active', reason = NULL, updated_at = ? "
            "WHERE agent_id = ? AND status = 'failed'"
        )
        async with self.store.transaction() as tx:
            if agent_id in self._tokens:
                await self._fence(tx, agent_id)
            changed = await tx.execute(sql, (time.time(), agent_id))
        return changed > 0

    async def renew(self) -> tuple[list[str], list[StoredAgent]]:
        now = time.time()
        await self.store.execute(
            "UPDATE agentrt_agents SET lease_expires_at = ? WHERE lease_owner = ?",
            (now + self.lease_ttl, self.owner_id),
        )
        held: dict[str, int] = dict(
            await self.store.fetchall(
                "SELECT agent_id, lease_token FROM agentrt_agents WHERE lease_owner = ? AND status <> 'terminated'",
                (self.owner_id,),
            )
        )
        lost = [agent for agent, token in self._tokens.items() if held.get(agent) != token]
        for agent in lost:
            del self._tokens[agent]
        taken: list[StoredAgent] = []
        took = await self._take_from_the_dead(now)
        if await self._take_free(now) or took:
            taken = await self._leased(set(self._tokens))
        return lost, taken

    async def release(self) -> None:
        if not self._tokens:
            return
        await self.store.execute(
            "UPDATE agentrt_agents SET lease_owner = NULL, lease_expires_at = 0 WHERE lease_owner = ?",
            (self.owner_id,),
        )
        self._tokens.clear()

    async def resumed(self) -> list[str]:
        """The agents this process holds that are active in the store: one failed here may have been resumed
        from elsewhere (`agentrt agents resume`)."""
        rows = await self.store.fetchall(
            "SELECT agent_id FROM agentrt_agents WHERE lease_owner = ? AND status = 'active'", (self.owner_id,)
        )
        return [row[0] for row in rows]

    async def _fence(self, tx: Any, agent_id: str) -> None:
        """Raise ``LeaseLost`` unless this process holds the agent's lease with its current token."""
        token = self._tokens.get(agent_id)
        if token is None or not await tx.execute(
            _FENCE, (time.time() + self.lease_ttl, agent_id, self.owner_id, token)
        ):
            self._tokens.pop(agent_id, None)
            raise _lease_lost(agent_id)

    async def terminate(self, agent_id: str, reason: str | None) -> int:
        async with self.store.transaction() as tx:
            await self._fence(tx, agent_id)
            dropped = await tx.execute("DELETE FROM agentrt_agent_journal WHERE agent_id = ?", (agent_id,))
            await tx.execute(
                "UPDATE agentrt_agents SET status = 'terminated', reason = ?, updated_at = ?, lease_owner = NULL "
                "WHERE agent_id = ?",
                (reason, time.time(), agent_id),
            )
        self._tokens.pop(agent_id, None)
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
        """Write a batch in one transaction: per agent, one fenced update that carries its state (the last
        completion's), its processed count and its in-flight mark (the last set, in the order they were
        asked for) and extends its lease; then the journal rows in and the completed ones out. An agent
        whose lease this process lost has all its writes refused (``LeaseLost``), the others go in."""
        now = time.time()
        agents: dict[str, _AgentWrite] = {}
        for kind, row, _ in batch:
            write = agents.get(row[0])
            if write is None:
                write = agents[row[0]] = _AgentWrite()
            if kind == "complete":
                write.completed += 1
                write.state = row[2]
                write.in_flight = row[3]
            elif kind == "start" or kind == "journal+start":
                write.in_flight = row[1]
        async with self.store.transaction() as tx:
            refused: set[str] = set()
            for agent in sorted(agents):  # one order: no deadlock between processes
                if not await self._fenced_update(tx, agent, agents[agent], now):
                    refused.add(agent)
            if refused:
                for _, row, done in batch:
                    if row[0] in refused and not done.done():
                        done.set_exception(_lease_lost(row[0]))
                        done.exception()
                batch = [write for write in batch if write[1][0] not in refused]
            journal = [row for kind, row, _ in batch if kind == "journal" or kind == "journal+start"]
            if journal:
                await tx.executemany(_JOURNAL, journal)
            completed = [(row[0], row[1]) for kind, row, _ in batch if kind == "complete"]
            if completed:
                await tx.executemany(_DELETE_ACTIVITY, completed)

    async def _fenced_update(self, tx: Any, agent_id: str, write: _AgentWrite, now: float) -> bool:
        """The agent's row updated as ``write`` says, if this process holds its lease with the current
        token (else nothing changes and it returns False). On PostgreSQL the row stays locked until the
        transaction ends: a takeover waits for it."""
        token = self._tokens.get(agent_id)
        if token is None:
            return False
        sets = ["lease_expires_at = ?"]
        params: list[Any] = [now + self.lease_ttl]
        if write.completed:
            sets.append("state = ?, processed = processed + ?, updated_at = ?")
            params += [write.state, write.completed, now]
        if write.in_flight is not None:
            sets.append("in_flight = ?")
            params.append(write.in_flight)
        params += [agent_id, self.owner_id, token]
        changed = await tx.execute(
            f"UPDATE agentrt_agents SET {', '.join(sets)} WHERE agent_id = ? AND lease_owner = ? AND lease_token = ?",
            tuple(params),
        )
        if not changed:
            self._tokens.pop(agent_id, None)
        return bool(changed)


class _AgentWrite:
    """What one batch writes to one agent's row."""

    __slots__ = ("completed", "in_flight", "state")

    def __init__(self) -> None:
        self.completed = 0
        self.state: str | None = None
        self.in_flight: int | None = None


def _is_gone(holder: str) -> bool:
    """Whether the process that holds a lease (``host:pid:random``) is known to be gone: it ran on this host,
    and its pid is not running, or is this process's (a new incarnation under the same pid, as pid 1 of a
    restarted container). A holder of another host is never known gone: its lease must lapse."""
    host, _, rest = holder.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # not us (our owner id differs): an earlier process that had the same pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # running, as another user
    return False


def _lease_lost(agent_id: str) -> LeaseLost:
    return LeaseLost(
        f"agent {agent_id!r} is now run by another process sharing the store (this one's lease lapsed): "
        "the write was refused; the other process has the agent's state and journal",
        agent=agent_id,
    )


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
