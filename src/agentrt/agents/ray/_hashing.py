"""Which shard an agent lives in: rendezvous (highest random weight) hashing of its id.

Every shard scores the id (a keyed 64-bit hash of the id and the shard number)
and the highest score wins. Any process computes the same answer with no
shared table; the ids spread evenly; and when the number of shards changes,
only the ids whose winner is a new shard (or was a removed one) move, about
``1/shards`` of them, where ``hash % shards`` would move nearly all.

Scoring every shard costs ``shards`` hashes, so answers are cached per id
(bounded: a long-running gateway sees many ids).
"""

from __future__ import annotations

import hashlib

__all__ = ["ShardMap", "rendezvous_shard"]


def _score(agent_id: bytes, shard: int) -> int:
    # blake2b is in the standard library, keyed (the shard number as key gives every shard its own
    # independent hash of the id) and fast on short inputs.
    digest = hashlib.blake2b(agent_id, digest_size=8, key=shard.to_bytes(4, "little")).digest()
    return int.from_bytes(digest, "little")


def rendezvous_shard(agent_id: str, shards: int) -> int:
    """The shard (``0 .. shards-1``) that ``agent_id`` maps to."""
    if shards < 1:
        raise ValueError(f"there must be at least one shard, got {shards}")
    key = agent_id.encode()
    best, best_score = 0, -1
    for shard in range(shards):
        score = _score(key, shard)
        if score > best_score:
            best, best_score = shard, score
    return best


class ShardMap:
    """``rendezvous_shard`` for a fixed number of shards, with the answers cached (``limit`` ids at most)."""

    __slots__ = ("_cache", "limit", "shards")

    def __init__(self, shards: int, *, limit: int = 100_000) -> None:
        if shards < 1:
            raise ValueError(f"there must be at least one shard, got {shards}")
        self.shards = shards
        self.limit = limit
        self._cache: dict[str, int] = {}

    def __call__(self, agent_id: str) -> int:
        shard = self._cache.get(agent_id)
        if shard is None:
            shard = rendezvous_shard(agent_id, self.shards) if self.shards > 1 else 0
            if len(self._cache) >= self.limit:
                self._cache.clear()  # cheaper than LRU bookkeeping on every lookup; refills as ids come back
            self._cache[agent_id] = shard
        return shard
