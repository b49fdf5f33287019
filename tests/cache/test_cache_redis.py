"""The Redis backend on a real redis-server: entries shared by two caches (two processes' worth), with TTLs."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from cache_support import open_runtime

from agentrt.cache import RedisCache
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
