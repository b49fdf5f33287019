"""The response cache as the call pipeline uses it: a plan per call, then get and put.

``plan(spec, messages, call)`` says whether a call may use the cache at all
(the cache's ``enabled``, the model's ``cache.enabled`` and the call's
``cache=``), whether it may read (not with ``cache="refresh"``, the gateway's
``Cache-Control: no-cache``), its key and its TTL (the call's ``cache_ttl``,
else the model's ``cache.ttl``, else the cache's ``ttl``). A backend that fails
never fails the call: the error is logged, the call goes to the provider, and
the cache is left alone for :data:`PAUSE_AFTER_FAILURE` seconds (calls meanwhile
neither read nor write it), so a Redis that is down costs calls nothing more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from agentrt.cache._entry import CachedAnswer
from agentrt.cache._key import cache_key

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from agentrt.calls._call import _Call
    from agentrt.config._cache import CacheSection
    from agentrt.models import ModelSpec
    from agentrt.types import Completion, Message, StreamEvent

__all__ = ["PAUSE_AFTER_FAILURE", "CacheBackend", "CachePlan", "ResponseCache", "open_cache_backend"]

PAUSE_AFTER_FAILURE = 5.0
"""Seconds the cache is skipped after its backend failed."""

_RESTART_FIELDS = ("backend", "max_bytes", "key_prefix")  # the backend is made with them at start

_log = structlog.get_logger("agentrt.cache")


class CacheBackend(Protocol):
    """Where answers are kept: bytes by key, each with a TTL in seconds."""

    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: float) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CachePlan:
    """What one call does with the cache: its ``key``, whether it may ``read``, and the ``ttl`` of what it writes."""

    key: str
    read: bool
    ttl: float
    model: str


def open_cache_backend(section: CacheSection) -> CacheBackend:
    """The backend ``section.backend`` names: ``memory`` (bounded by ``max_bytes``) or a Redis URL."""
    if section.backend == "memory":
        from agentrt.cache.memory import MemoryCache

        return MemoryCache(section.max_bytes)
    from agentrt.cache.redis import RedisCache

    return RedisCache(section.backend, key_prefix=section.key_prefix)


class ResponseCache:
    """Identical requests answered from ``backend``, tenant by tenant unless ``section.shared_across_tenants``."""

    def __init__(
        self, section: CacheSection, backend: CacheBackend | None = None, *, registry: CollectorRegistry | None = None
    ) -> None:
        self.section = section
        self.backend = backend if backend is not None else open_cache_backend(section)
        self._lookups: Any = None
        if registry is not None:
            from prometheus_client import Counter

            self._lookups = Counter(
                "agentrt_cache_lookups",
                "Response cache lookups by model and result (hit, miss).",
                ["model", "result"],
                registry=registry,
            )
        self.hits = 0
        self.misses = 0
        self._paused_until = 0.0

    def consulted(self, call: _Call) -> bool:
        """Whether ``call`` may use the cache at all (cheap: checked on every call before the model is resolved)."""
        mode = call.cache
        return self.section.enabled if mode is None else mode != "off"

    def plan(self, spec: ModelSpec, messages: list[Message], call: _Call) -> CachePlan | None:
        """What ``call`` to ``spec`` does with the cache, or None: it does not use it."""
        mode = call.cache
        if mode == "off":
            return None
        if mode is None and not (self.section.enabled and spec.cache_enabled):
            return None
        tenant = None if self.section.shared_across_tenants else call.principal.tenant
        key = cache_key(spec, messages, call, tenant=tenant)
        ttl = call.cache_ttl or spec.cache_ttl or self.section.ttl
        return CachePlan(key, mode != "refresh", ttl, spec.name)

    async def get(self, plan: CachePlan) -> CachedAnswer | None:
        """The stored answer of ``plan``'s request, or None (counted as a hit or a miss)."""
        answer = None
        if not self._paused():
            try:
                data = await self.backend.get(plan.key)
                answer = None if data is None else CachedAnswer.from_bytes(data)
            except Exception as err:  # an unreachable or corrupt cache is a miss, loudly
                self._failed("cache_read_failed", plan, err)
        self._count(plan.model, answer is not None)
        return answer

    async def put(self, plan: CachePlan, completion: Completion, events: list[StreamEvent] | None = None) -> None:
        """Keep ``completion`` (streamed as ``events``) for ``plan.ttl`` seconds, if it is a complete answer."""
        answer = CachedAnswer.of(completion, events)
        if answer is None or self._paused():
            return
        try:
            await self.backend.put(plan.key, answer.to_bytes(), plan.ttl)
        except Exception as err:
            self._failed("cache_write_failed", plan, err)

    def _paused(self) -> bool:
        return self._paused_until > 0.0 and time.monotonic() < self._paused_until

    def _failed(self, event: str, plan: CachePlan, err: BaseException) -> None:
        self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
        _log.warning(
            event,
            model=plan.model,
            backend=self.backend.name,
            error=_error(err),
            hint=f"the cache is skipped for {PAUSE_AFTER_FAILURE:g}s; calls go to the provider meanwhile",
        )

    def reconfigure(self, section: CacheSection) -> list[str]:
        """Apply a new ``cache`` section: ``enabled``, ``ttl``, ``shared_across_tenants`` and a memory cache's
        ``max_bytes`` at once; a new backend or key prefix (or a Redis cache's ``max_bytes``, which Redis's
        own ``maxmemory`` bounds) waits for a restart (their paths are returned)."""
        from agentrt.cache.memory import MemoryCache

        backend = self.backend
        if isinstance(backend, MemoryCache) and section.backend == self.section.backend:
            backend.resize(section.max_bytes)
            self.section = self.section.model_copy(update={"max_bytes": section.max_bytes})
        later = [name for name in _RESTART_FIELDS if getattr(section, name) != getattr(self.section, name)]
        self.section = section.model_copy(update={name: getattr(self.section, name) for name in later})
        return [f"cache.{name}" for name in later]

    async def close(self) -> None:
        await self.backend.close()

    def _count(self, model: str, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if self._lookups is not None:
            self._lookups.labels(model, "hit" if hit else "miss").inc()


def _error(err: BaseException) -> str:
    # The class and message only: a Redis error's text never holds the URL's password.
    return f"{type(err).__name__}: {err}"
