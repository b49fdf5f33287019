"""The ``redis`` cache backend: answers shared by every process that names the same Redis.

Each entry is one string key (``key_prefix`` + the request's SHA-256) with a
millisecond expiry (``SET ... PX``), so Redis itself forgets expired answers;
bound its memory with Redis's own ``maxmemory`` and an LRU ``maxmemory-policy``.
The client connects on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["SOCKET_TIMEOUT", "RedisCache"]

SOCKET_TIMEOUT = 0.5
"""Seconds a connection or a command may take before the cache counts as unreachable."""


class RedisCache:
    """Entries in Redis at ``url``, under ``key_prefix``."""

    name = "redis"

    def __init__(self, url: str, *, key_prefix: str = "agentrt:cache:", client: Redis | None = None) -> None:
        self._url = url
        self._prefix = key_prefix
        self._client = client

    def _redis(self) -> Redis:
        client = self._client
        if client is None:
            from redis.asyncio import Redis

            # Short timeouts: a cache that does not answer must cost a call little (a miss), not a hang.
            client = self._client = Redis.from_url(
                self._url, socket_connect_timeout=SOCKET_TIMEOUT, socket_timeout=SOCKET_TIMEOUT
            )
        return client

    async def get(self, key: str) -> bytes | None:
        value = await self._redis().get(self._prefix + key)
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        await self._redis().set(self._prefix + key, value, px=max(int(ttl * 1000), 1))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
