"""The memory backend: an LRU whose size never passes its bound in bytes, with a TTL per entry."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.cache import MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


operations = st.lists(
    st.tuples(
        st.sampled_from(["put", "get"]),
        st.sampled_from([f"k{i}" for i in range(12)]),
        st.integers(min_value=0, max_value=400),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(bound=st.integers(min_value=1, max_value=1000), ops=operations)
def test_the_size_never_passes_the_bound_and_is_the_sum_of_the_entries(bound: int, ops: list) -> None:  # type: ignore[type-arg]
    async def scenario() -> None:
        cache = MemoryCache(bound)
        model: dict[str, bytes] = {}
        for op, key, size in ops:
            if op == "put":
                value = b"v" * size
                await cache.put(key, value, 60)
                if len(key) + size <= bound:
                    model[key] = value
                else:
                    model.pop(key, None)  # too large ever to fit: not stored, and the old value is gone
            else:
                got = await cache.get(key)
                assert got is None or got == model.get(key)  # never a wrong value; evicted is None
            assert cache.size <= bound
            assert cache.size == sum(len(k) + len(v) for k, (v, _) in cache._entries.items())
            assert len(cache) == len(cache._entries)

    run(scenario())


async def test_the_least_recently_used_entry_goes_first() -> None:
    cache = MemoryCache(3 * (2 + 10))  # room for three entries of key 2 bytes and value 10
    for key in ("k1", "k2", "k3"):
        await cache.put(key, b"0123456789", 60)
    assert await cache.get("k1") is not None  # k1 is now the most recently used
    await cache.put("k4", b"0123456789", 60)
    assert await cache.get("k2") is None
    assert [await cache.get(k) is not None for k in ("k1", "k3", "k4")] == [True, True, True]


async def test_an_entry_larger_than_the_bound_is_not_stored_and_evicts_nothing() -> None:
    cache = MemoryCache(50)
    await cache.put("a", b"x" * 10, 60)
    await cache.put("b", b"x" * 100, 60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"x" * 10


async def test_an_entry_expires_after_its_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(1000, clock=clock)
    await cache.put("k", b"v", 10)
    clock.now = 9.99
    assert await cache.get("k") == b"v"
    clock.now = 10.0
    assert await cache.get("k") is None
    assert cache.size == 0


async def test_storing_a_key_again_replaces_its_value_and_size() -> None:
    cache = MemoryCache(100)
    await cache.put("k", b"long value", 60)
    await cache.put("k", b"v", 60)
    assert await cache.get("k") == b"v"
    assert cache.size == 2


async def test_a_smaller_bound_drops_the_least_recently_used_until_the_rest_fits() -> None:
    cache = MemoryCache(1000)
    for key in ("k1", "k2", "k3"):
        await cache.put(key, b"x" * 98, 60)  # 100 bytes each
    assert await cache.get("k1") is not None  # k2 is now the least recently used
    cache.resize(250)
    assert cache.size == 200
    assert await cache.get("k2") is None
    assert await cache.get("k1") is not None
    assert await cache.get("k3") is not None
