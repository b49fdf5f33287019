"""Stored responses of the Responses API (``store: true``): what ``previous_response_id`` continues.

One row per response: its id, its owner (the tenant, user or key it belongs
to: another owner's response is "not found"), when it was made, the response
object as it was answered (``GET /v1/responses/{id}``), and the conversation
(the input items that led to it and its output, as agentrt messages in JSON),
which a later request with ``previous_response_id`` continues.

A row is written before the answer is sent, so a client that continues at
once finds it. Each row holds its whole conversation rather than a link to the
one it continued: retention may delete an old response without breaking the
newer ones that continued it, at the cost of repeating the earlier turns.

With ``store.retention.responses`` set, rows older than that are deleted in
the background, in batches like the ledger's (:mod:`agentrt.store.responses_service`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson

from agentrt.store._base import Store

if TYPE_CHECKING:
    from agentrt.store.retention import Pruner

__all__ = ["RESPONSES_MIGRATIONS", "ResponseStore", "StoredResponse", "prune_responses"]

_TABLE: Final = "agentrt_responses"
_PAUSE: Final = 0.01

RESPONSES_MIGRATIONS: Final[list[str | dict[str, str]]] = [
    f"""CREATE TABLE {_TABLE} (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    model TEXT NOT NULL,
    body TEXT NOT NULL,
    conversation TEXT NOT NULL
);
CREATE INDEX agentrt_responses_created ON {_TABLE} (created_at)""",
]
"""The ``responses`` component's schema versions."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One stored response: ``body`` is the response object answered, ``conversation`` the messages
    (JSON-ready dicts) that a continuation prepends."""

    id: str
    owner: str
    created_at: float
    model: str
    body: dict[str, Any]
    conversation: list[dict[str, Any]]


class ResponseStore:
    """The stored responses in the store's ``agentrt_responses`` table.

    Lifetime: ``start()`` migrates the table, ``close()`` stops the pruner. Reads
    and writes go to the store at once (no queue): a response is stored before
    it is answered.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pruner: Pruner | None = None

    async def start(self) -> None:
        await self.store.migrate("responses", RESPONSES_MIGRATIONS)

    async def close(self) -> None:
        if self.pruner is not None:
            await self.pruner.close()

    async def save(self, response: StoredResponse) -> None:
        await self.store.execute(
            f"INSERT INTO {_TABLE} (id, owner, created_at, model, body, conversation) VALUES (?, ?, ?, ?, ?, ?)",
            (
                response.id,
                response.owner,
                float(response.created_at),
                response.model,
                orjson.dumps(response.body).decode(),
                orjson.dumps(response.conversation).decode(),
            ),
        )

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        """The response ``response_id`` if ``owner`` owns it; None otherwise (missing, or another's)."""
        row = await self.store.fetchone(
            f"SELECT id, owner, created_at, model, body, conversation FROM {_TABLE} WHERE id = ? AND owner = ?",
            (response_id, owner),
        )
        if row is None:
            return None
        rid, row_owner, created_at, model, body, conversation = row
        return StoredResponse(
            str(rid), str(row_owner), float(created_at), str(model), orjson.loads(body), orjson.loads(conversation)
        )

    async def delete(self, response_id: str, owner: str) -> bool:
        """Delete ``owner``'s response ``response_id``; False when there is none to delete."""
        deleted = await self.store.execute(f"DELETE FROM {_TABLE} WHERE id = ? AND owner = ?", (response_id, owner))
        return deleted > 0

    async def count(self) -> int:
        row = await self.store.fetchone(f"SELECT COUNT(*) FROM {_TABLE}")
        return int(row[0]) if row is not None else 0


async def prune_responses(store: Store, before: float, *, batch_size: int = 1000, pause: float = _PAUSE) -> int:
    """Delete the stored responses made before ``before`` (epoch seconds); return how many went."""
    total = 0
    while True:
        deleted = await store.execute(
            f"DELETE FROM {_TABLE} WHERE id IN "
            f"(SELECT id FROM {_TABLE} WHERE created_at < ? ORDER BY created_at LIMIT ?)",
            (before, batch_size),
        )
        total += max(deleted, 0)
        if deleted < batch_size:
            return total
        await asyncio.sleep(pause)
