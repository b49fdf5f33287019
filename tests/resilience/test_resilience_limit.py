"""The concurrency limit: at most N in flight, the others wait in order; statistics; the guard uses it."""

from __future__ import annotations

import asyncio

import pytest
from resilience_fakes import Hang, ScriptedCall, make_guard, until

from agentrt.resilience import ConcurrencyLimit


async def test_the_n_plus_first_holder_waits_until_a_slot_is_free() -> None:
    limit = ConcurrencyLimit(2)
    order: list[str] = []
    release = {name: asyncio.Event() for name in "abc"}

    async def hold(name: str) -> None:
        async with limit:
            order.append(f"in {name}")
            await release[name].wait()
        order.append(f"out {name}")

    tasks = [asyncio.create_task(hold(name)) for name in "abc"]
    await until(lambda: limit.in_flight == 2 and limit.waiting == 1)
    assert order == ["in a", "in b"]

    release["a"].set()
    await until(lambda: "in c" in order)
    assert (limit.in_flight, limit.waiting) == (2, 0)

    release["b"].set()
    release["c"].set()
    await asyncio.gather(*tasks)
    assert (limit.in_flight, limit.waiting) == (0, 0)
    assert order == ["in a", "in b", "out a", "in c", "out b", "out c"]


async def test_a_waiter_cancelled_while_waiting_takes_no_slot() -> None:
    limit = ConcurrencyLimit(1)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await until(lambda: limit.waiting == 1)

    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert (limit.in_flight, limit.waiting) == (1, 0)
    limit.release()
    await limit.acquire()  # the slot is free again: no wait
    assert limit.in_flight == 1


async def test_releasing_more_than_acquired_is_a_bug_and_raises() -> None:
    limit = ConcurrencyLimit(1)
    with pytest.raises(RuntimeError, match="more often than acquire"):
        limit.release()


def test_a_limit_needs_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="1 or more"):
        ConcurrencyLimit(0)


async def test_a_guard_holds_at_most_max_in_flight_calls_at_the_provider() -> None:
    guard = make_guard(max_in_flight=3)
    hangs = [Hang() for _ in range(5)]
    call = ScriptedCall(hangs)

    tasks = [asyncio.create_task(guard.run(call, model="m", attempts=[])) for _ in range(5)]
    await until(lambda: guard.limit.waiting == 2)
    assert call.running == 3
    assert guard.limit.in_flight == 3

    for hang in hangs:
        hang.event.set()
    assert await asyncio.gather(*tasks) == ["ok"] * 5
    assert call.max_running == 3
    assert (guard.limit.in_flight, guard.limit.waiting) == (0, 0)


async def test_a_failed_call_gives_its_slot_back() -> None:
    guard = make_guard(attempts=1, max_in_flight=1)
    call = ScriptedCall([ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        await guard.run(call, model="m", attempts=[])
    assert guard.limit.in_flight == 0
    assert await guard.run(call, model="m", attempts=[]) == "ok"
