"""The ``memory`` cache backend: an LRU of this process, bounded in bytes, with a TTL per entry.

The size of an entry is its key's length plus its value's (Python's own
bookkeeping, about 200 bytes an entry, is not counted); the sum over the
entries never exceeds ``max_bytes``: storing an entry first drops the least
recently used ones until it fits, and an entry larger than the whole bound is
not stored at all. An expired entry is dropped when it is read, or when it
reaches the old end of the LRU.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryCache"]


class MemoryCache:
    """An LRU of bytes values bounded by ``max_bytes``; ``clock`` (monotonic seconds) is for tests."""

    name = "memory"

    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0

    @property
    def size(self) -> int:
        """The bytes the entries take now (keys and values)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        size = len(key) + len(value)
        if key in self._entries:
            self._drop(key)
        if size > self.max_bytes:
            return  # never fits: storing it would empty the cache for nothing
        entries = self._entries
        while self._bytes + size > self.max_bytes:
            oldest = next(iter(entries))
            self._drop(oldest)
        entries[key] = (value, self._clock() + ttl)
        self._bytes += size

    def resize(self, max_bytes: int) -> None:
        """A new bound; the least recently used entries go until the rest fits it."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.max_bytes = max_bytes
        while self._bytes > max_bytes:
            self._drop(next(iter(self._entries)))

    async def close(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: str) -> None:
        value, _ = self._entries.pop(key)
        self._bytes -= len(key) + len(value)
