"""A shard host's agent store: the durable agents of one shard, and a record of its other agents.

Durable agents: :class:`ShardAgentStore` is the SQL agent store (leases with
fencing tokens, group commits) restricted to the agents whose id hashes to the
host's shard. Its lease owner id starts with ``ray:<namespace>:shard-<n>:``.
Ray runs at most one live actor per name, so when a host starts, a lease held
under its shard's prefix by another id belongs to its dead predecessor: it is
taken at once (not after ``lease_ttl``), and should the predecessor still be
running somewhere (a partition), the fencing token refuses its late saves.

Agents that are not durable die with their host. So that they are reported
lost rather than silently gone, the host records each one it runs in
``agentrt_ray_hosted`` (component ``agents_ray``); its successor marks the
live ones of the shard ``lost``, and lists them so.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from agentrt.agents.durable import StoreAgentStore

if TYPE_CHECKING:
    from agentrt.calls import Principal
    from agentrt.store import Store

__all__ = ["HOSTED_MIGRATIONS", "HostedAgent", "ShardAgentStore"]

HOSTED_MIGRATIONS: Final[list[str | dict[str, str]]] = [
    """
    CREATE TABLE agentrt_ray_hosted (
        agent_id TEXT PRIMARY KEY,
        namespace TEXT NOT NULL,
        shard BIGINT NOT NULL,
        host TEXT NOT NULL,
        agent_type TEXT NOT NULL,
        owner_user TEXT,
        owner_tenant TEXT,
        status TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )
    """,
]
"""The ``agents_ray`` component's schema versions."""

_CHUNK: Final = 500  # ids per UPDATE ... IN (...): well under every driver's parameter limit


@dataclass(frozen=True, slots=True)
class HostedAgent:
    """A non-durable agent a host of this shard ran, as recorded."""

    id: str
    type: str
    owner_user: str | None
    owner_tenant: str | None
    status: str  # "live", "lost" or "terminated"


class ShardAgentStore(StoreAgentStore):
    """The agents of shard ``shard`` (those ``claims`` accepts) in the shared SQL store."""

    def __init__(
        self,
        store: Store,
        *,
        namespace: str,
        shard: int,
        claims: Callable[[str], bool],
        lease_ttl: float = 15.0,
    ) -> None:
        self.prefix = f"ray:{namespace}:shard-{shard}:"
        super().__init__(store, lease_ttl=lease_ttl, owner_id=self.prefix + secrets.token_hex(6))
        self.namespace = namespace
        self.shard = shard
        self.claims = claims
        self._took_from_predecessor = False

    async def open(self) -> None:
        await super().open()
        await self.store.migrate("agents_ray", HOSTED_MIGRATIONS)

    async def _take_from_the_dead(self, now: float) -> int:
        # Once, at start: the predecessor's leases. Not at each renewal, so that two hosts of one shard
        # (a race Ray's naming should prevent) do not keep taking the agents back from each other: the
        # newer one wins and the older one's writes are refused.
        if self._took_from_predecessor:
            return 0
        self._took_from_predecessor = True
        return await self.store.execute(
            "UPDATE agentrt_agents SET lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ? "
            "WHERE lease_owner IS NOT NULL AND substr(lease_owner, 1, ?) = ? AND lease_owner <> ? "
            "AND status <> 'terminated'",
            (self.owner_id, now + self.lease_ttl, len(self.prefix), self.prefix, self.owner_id),
        )

    async def _take_free(self, now: float) -> int:
        rows = await self.store.fetchall(
            "SELECT agent_id FROM agentrt_agents WHERE status <> 'terminated' "
            "AND (lease_owner IS NULL OR lease_expires_at < ?)",
            (now,),
        )
        mine = [row[0] for row in rows if self.claims(row[0])]
        taken = 0
        for start in range(0, len(mine), _CHUNK):
            chunk = mine[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            taken += await self.store.execute(
                "UPDATE agentrt_agents SET lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ? "
                f"WHERE agent_id IN ({marks}) AND status <> 'terminated' "
                "AND (lease_owner IS NULL OR lease_expires_at < ?)",
                (self.owner_id, now + self.lease_ttl, *chunk, now),
            )
        return taken

    # --- agents that are not durable ------------------------------------------------------------

    async def record_hosted(self, agent_id: str, agent_type: str, owner: Principal | None) -> None:
        """This host runs ``agent_id`` (not durable) from now on."""
        user, tenant = (owner.user, owner.tenant) if owner is not None else (None, None)
        await self.store.execute(
            "INSERT INTO agentrt_ray_hosted (agent_id, namespace, shard, host, agent_type, owner_user, owner_tenant, "
            "status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'live', ?) ON CONFLICT (agent_id) DO UPDATE SET "
            "namespace = excluded.namespace, shard = excluded.shard, host = excluded.host, "
            "agent_type = excluded.agent_type, owner_user = excluded.owner_user, "
            "owner_tenant = excluded.owner_tenant, status = 'live', updated_at = excluded.updated_at",
            (agent_id, self.namespace, self.shard, self.owner_id, agent_type, user, tenant, time.time()),
        )

    async def record_terminated(self, agent_id: str) -> None:
        await self.store.execute(
            "UPDATE agentrt_ray_hosted SET status = 'terminated', updated_at = ? WHERE agent_id = ? AND host = ?",
            (time.time(), agent_id, self.owner_id),
        )

    async def mark_predecessors_lost(self) -> list[str]:
        """The agents earlier hosts of this shard ran and did not see terminated: marked lost; their ids."""
        rows = await self.store.fetchall(
            "SELECT agent_id FROM agentrt_ray_hosted WHERE namespace = ? AND shard = ? AND status = 'live' "
            "AND host <> ?",
            (self.namespace, self.shard, self.owner_id),
        )
        await self.store.execute(
            "UPDATE agentrt_ray_hosted SET status = 'lost', updated_at = ? WHERE namespace = ? AND shard = ? "
            "AND status = 'live' AND host <> ?",
            (time.time(), self.namespace, self.shard, self.owner_id),
        )
        return [row[0] for row in rows]

    async def lost(self) -> list[HostedAgent]:
        """This shard's agents that were lost with an earlier host (and not spawned again since)."""
        rows = await self.store.fetchall(
            "SELECT agent_id, agent_type, owner_user, owner_tenant, status FROM agentrt_ray_hosted "
            "WHERE namespace = ? AND shard = ? AND status = 'lost' ORDER BY agent_id",
            (self.namespace, self.shard),
        )
        return [HostedAgent(*row) for row in rows]
