"""A runtime that stops while model calls are under way lets them end and settles them (issue 10: nothing
the provider bills goes uncharged), for up to DRAIN_AT_STOP seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

from calls_support import RecordingPolicy, log_events, open_runtime

from agentrt.calls import PolicyHook
from agentrt.calls._in_flight import InFlight
from agentrt.testing import FakeUpstream, Reply


async def until_sent(up: FakeUpstream) -> None:
    """Until the call's request is with the provider (it answers after its scripted delay)."""
    for _ in range(500):
        if up.requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the call never reached the fake upstream")


async def test_a_call_answered_while_the_runtime_stops_is_settled_before_the_policy_stops(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Reply(text="late but billed", usage=(12, 7), delay=0.3))
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    await rt.start()
    call = asyncio.create_task(rt.generate("primary", "hi"))
    await until_sent(up)
    await rt.stop()
    completion = await call
    assert completion.text == "late but billed"
    [(_, usage, _)] = policy.settled
    assert (usage.input_tokens, usage.output_tokens) == (12, 7)
    assert policy.released == []


async def test_a_stream_being_opened_while_the_runtime_stops_is_waited_for(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text="opened late", usage=(5, 3), delay=0.3))
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    await rt.start()

    async def first_event() -> object:
        return await anext(aiter(rt.stream("primary", "hi")))

    opening = asyncio.create_task(first_event())
    await until_sent(up)
    await rt.stop()
    await opening  # it opened before the stop went on, then was settled at stop for what it delivered
    assert len(policy.settled) == 1
    assert policy.released == []


async def test_a_call_that_outlasts_the_drain_is_named_in_a_warning(up: FakeUpstream, tmp_path: Path) -> None:
    import agentrt.calls.service as calls_service

    up.script(Reply(text="too slow", delay=2.0))
    rt = open_runtime(up, tmp_path)
    await rt.start()
    call = asyncio.create_task(rt.generate("primary", "hi"))
    await until_sent(up)
    drain, calls_service.DRAIN_AT_STOP = calls_service.DRAIN_AT_STOP, 0.1  # type: ignore[attr-defined]
    try:
        await rt.stop()
    finally:
        calls_service.DRAIN_AT_STOP = drain  # type: ignore[attr-defined]
    call.cancel()
    await asyncio.gather(call, return_exceptions=True)
    [warning] = log_events(rt, "calls_still_running_at_stop")
    assert warning["calls"] == 1


async def test_in_flight_counts_and_wakes_the_waiter_when_the_last_call_ends() -> None:
    in_flight = InFlight()
    assert await in_flight.wait_idle(0.01) == 0
    in_flight.enter()
    in_flight.enter()
    assert await in_flight.wait_idle(0.01) == 2  # nobody left: the wait times out with the count

    async def finish() -> None:
        await asyncio.sleep(0.02)
        in_flight.leave()
        in_flight.leave()

    ender = asyncio.create_task(finish())
    assert await in_flight.wait_idle(5.0) == 0
    await ender
