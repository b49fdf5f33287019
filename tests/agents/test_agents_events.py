"""Subscriptions: state changes, results, errors and status, in order; slow subscribers never block."""

from __future__ import annotations

import asyncio

import pytest
from agents_support import started_runtime

from agentrt.agents import (
    ActivityFailed,
    ActivityProcessed,
    AgentEvent,
    EventsDropped,
    StateChanged,
    StatusChanged,
)
from agentrt.errors import AgentNotFound, AgentTerminated


async def collect(events: object) -> list[AgentEvent]:
    return [event async for event in events]  # type: ignore[attr-defined]


async def test_a_subscriber_sees_status_results_state_and_errors_in_order() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "r")
    events = rt.subscribe("r")
    reader = asyncio.create_task(collect(events))
    first = await rt.tell("r", "hello")
    await rt.wait_idle()
    failing = await rt.tell("r", {"fail": "nope"})
    await rt.wait_idle()
    await rt.terminate("r")
    seen = await reader
    kinds = [(type(e).__name__, getattr(e, "status", None)) for e in seen]
    assert kinds == [
        ("StatusChanged", "processing"),
        ("ActivityProcessed", None),
        ("StateChanged", None),
        ("StatusChanged", "idle"),
        ("StatusChanged", "processing"),
        ("StatusChanged", "error"),
        ("ActivityFailed", None),
        ("StatusChanged", "terminated"),
    ]
    processed = seen[1]
    assert isinstance(processed, ActivityProcessed)
    assert (processed.activity, processed.result) == (first.id, 1)
    state = seen[2]
    assert isinstance(state, StateChanged)
    assert state.state == {"count": 1, "seen": ["hello"]}
    failed = seen[6]
    assert isinstance(failed, ActivityFailed)
    assert failed.activity == failing.id
    assert failed.as_dict()["error"] == {"type": "RuntimeError", "message": "nope"}
    assert all(e.agent == "r" for e in seen)
    assert isinstance(seen[-1], StatusChanged)
    assert seen[-1].reason == "terminated"


async def test_a_slow_subscriber_gets_a_dropped_marker_and_the_agent_never_waits() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "r")
    slow = rt.subscribe("r", buffer=3)
    for n in range(10):
        await rt.tell("r", n)
    await rt.wait_idle()  # the agent finished without anyone reading
    assert rt.state("r").count == 10
    assert slow.pending == 3

    async def next_event() -> AgentEvent:
        return await asyncio.wait_for(anext(slow), 5)

    got = [await next_event() for _ in range(4)]
    assert [type(e) for e in got[:3]] == [StatusChanged, ActivityProcessed, StateChanged]
    assert isinstance(got[3], EventsDropped)
    assert got[3].count == 1 + 10 * 2 + 1 - 3  # processing, a result and a state per activity, idle; minus 3 kept
    await rt.tell("r", "after the gap")
    await rt.wait_idle()
    after = [await next_event() for _ in range(3)]
    assert [type(e) for e in after] == [StatusChanged, ActivityProcessed, StateChanged]
    await slow.aclose()
    await slow.aclose()  # harmless twice


async def test_subscriptions_end_when_the_runtime_closes_and_refuse_unknown_agents() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "r")
    async with rt.subscribe("r") as events:
        reader = asyncio.create_task(collect(events))
        await rt.close()
        assert await reader == []
    with pytest.raises(AgentNotFound):
        rt.subscribe("ghost")
    rt2 = await started_runtime()
    await rt2.spawn("recorder", "gone")
    await rt2.terminate("gone")
    with pytest.raises(AgentTerminated):
        rt2.subscribe("gone")
