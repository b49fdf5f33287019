"""The Redis backend on a real redis-server: entries shared by two caches (two processes' worth), with TTLs."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from cache_support import open_runtime

from agentrt.cache import RedisCache, ResponseCache
from agentrt.testing import FakeUpstream


async def test_an_entry_is_read_back_by_another_client_until_its_ttl(redis_url: str) -> None:
    prefix = f"cache:{uuid.uuid4().hex[:8]}:"
    writer, reader = RedisCache(redis_url, key_prefix=prefix), RedisCache(redis_url, key_prefix=prefix)
    try:
        await writer.put("k", b"\x00answer\xff", 0.3)
        assert await reader.get("k") == b"\x00answer\xff"
        assert await reader.get("other") is None
        await asyncio.sleep(0.35)
        assert await reader.get("k") is None
    finally:
        await writer.close()
        await reader.close()


async def test_two_runtimes_on_one_redis_share_answers(redis_url: str, up: FakeUpstream, tmp_path: Path) -> None:
    cache = {"backend": redis_url, "key_prefix": f"cache:{uuid.uuid4().hex[:8]}:"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with open_runtime(up, tmp_path / "a", cache) as first:
        miss = await first.generate("m", "question", tenant="acme")
    async with open_runtime(up, tmp_path / "b", cache) as second:
        hit = await second.generate("m", "question", tenant="acme")
        other_tenant = await second.generate("m", "question", tenant="globex")
        stream = [event async for event in second.stream("m", "question", tenant="acme")]
    assert not miss.cached
    assert (hit.cached, hit.text) == (True, miss.text)
    assert not other_tenant.cached
    assert stream[-1].completion.cached  # type: ignore[union-attr]
    assert len(up.requests) == 2


async def test_an_unreachable_redis_is_a_miss_not_a_failure(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path, {"backend": "redis://127.0.0.1:1/0"}) as rt:
        first = await rt.generate("m", "question")
        second = await rt.generate("m", "question")
    assert not first.cached
    assert not second.cached
    assert len(up.requests) == 2


class _DownBackend:
    """A backend whose every use fails, counting the tries."""

    name = "down"

    def __init__(self) -> None:
        self.tries = 0

    async def get(self, key: str) -> bytes | None:
        self.tries += 1
        raise ConnectionError("connection refused")

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        self.tries += 1
        raise ConnectionError("connection refused")

    async def close(self) -> None:
        return None


async def test_after_a_failure_the_cache_is_left_alone_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentrt.cache import response_cache
    from agentrt.calls._call import call_settings
    from agentrt.calls.principal import Principal
    from agentrt.config._cache import CacheSection
    from agentrt.models import ModelSpec
    from agentrt.types import Completion, Message, Usage

    now = [1000.0]
    monkeypatch.setattr(response_cache.time, "monotonic", lambda: now[0])
    backend = _DownBackend()
    cache = ResponseCache(CacheSection(enabled=True), backend)
    plan = cache.plan(ModelSpec("m", "p", "m"), [Message.user("q")], call_settings(Principal(), "generate", None, None))
    assert plan is not None
    assert await cache.get(plan) is None
    assert backend.tries == 1
    completion = Completion("a", [], "stop", Usage(), 0.0, "m", "p", [], 0.0)
    await cache.put(plan, completion)
    assert await cache.get(plan) is None
    assert backend.tries == 1  # paused: neither read nor written
    now[0] += response_cache.PAUSE_AFTER_FAILURE
    assert await cache.get(plan) is None
    assert backend.tries == 2  # tried again after the pause
