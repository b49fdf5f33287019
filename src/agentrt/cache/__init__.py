"""The response cache: identical requests get the stored answer, at 0 tokens and $0.

::

    cache: {enabled: true, backend: memory, max_bytes: 100MB, ttl: 1h, shared_across_tenants: false}

    await rt.generate("default", "Hello", cache=True)          # per call: True, False, "refresh"
    # gateway: Cache-Control: no-cache (do not read, do write) / no-store (neither)

A hit is still admitted by the policy (rules, rpm), costs nothing, and its
ledger row is marked ``cached``; it is never served to another tenant unless
``shared_across_tenants``. A stream is served from the cache as a stream.

Modules: ``_key`` (what makes two requests the same), ``_entry`` (what is
kept, and what is not), ``memory`` (an LRU bounded in bytes), ``redis``,
``response_cache`` (:class:`ResponseCache`, what the pipeline uses).
"""

from agentrt.cache._entry import STORED_FINISH_REASONS, CachedAnswer
from agentrt.cache._key import IGNORED_PARAMS, cache_control, cache_key
from agentrt.cache.memory import MemoryCache
from agentrt.cache.redis import RedisCache
from agentrt.cache.response_cache import CacheBackend, CachePlan, ResponseCache, open_cache_backend

__all__ = [
    "IGNORED_PARAMS",
    "STORED_FINISH_REASONS",
    "CacheBackend",
    "CachePlan",
    "CachedAnswer",
    "MemoryCache",
    "RedisCache",
    "ResponseCache",
    "cache_control",
    "cache_key",
    "open_cache_backend",
]
