"""Terminate and close: draining, what is left, refusing new work; idle agents own no task."""

from __future__ import annotations

import asyncio

import pytest
from agents_support import Recorder, gated, started_runtime
from structlog.testing import capture_logs

from agentrt.agents import AgentRuntime, AgentStatus
from agentrt.errors import AgentTerminated, RuntimeStateError


async def test_terminate_with_drain_finishes_the_queue_first() -> None:
    rt = AgentRuntime()
    cls = gated(rt)
    await rt.spawn("gated", "g")
    for n in range(4):
        await rt.tell("g", n)
    terminating = asyncio.create_task(rt.terminate("g"))
    await asyncio.sleep(0)
    with pytest.raises(AgentTerminated):  # refused at once, while the queue drains
        await rt.tell("g", "late")
    assert cls.gate is not None
    for _ in range(4):
        cls.gate.release()
    assert await terminating == 0
    assert rt.state("g").seen == [0, 1, 2, 3]
    assert rt.status("g") is AgentStatus.TERMINATED


async def test_terminate_without_drain_drops_the_queue_and_tells_the_askers() -> None:
    rt = AgentRuntime()
    cls = gated(rt)
    await rt.spawn("gated", "g")
    await rt.tell("g", "current")
    await asyncio.sleep(0)
    asks = [asyncio.create_task(rt.ask("g", n)) for n in range(3)]
    await asyncio.sleep(0)
    terminating = asyncio.create_task(rt.terminate("g", drain=False))
    await asyncio.sleep(0)
    assert cls.gate is not None
    cls.gate.release()  # the activity being processed always finishes
    assert await terminating == 3
    for ask in asks:
        with pytest.raises(AgentTerminated, match="was terminated before this activity was processed"):
            await ask
    assert rt.state("g").seen == ["current"]


async def test_close_drains_every_agent_and_refuses_new_tells() -> None:
    rt = await started_runtime()
    for name in ("a", "b"):
        await rt.spawn("recorder", name)
        for n in range(50):
            await rt.tell(name, n)
    with capture_logs() as logs:
        left = await rt.close(timeout=5)
    assert left == {}
    assert [e["event"] for e in logs] == ["agents_closed"]
    assert rt.state("a").count == rt.state("b").count == 50
    with pytest.raises(AgentTerminated, match="the agent runtime is closed"):
        await rt.tell("a", 1)
    with pytest.raises(RuntimeStateError):
        await rt.spawn("recorder", "c")
    assert await rt.close() == {}  # closing twice is harmless


async def test_close_past_its_deadline_reports_what_was_left_per_agent() -> None:
    rt = AgentRuntime()
    gated(rt)
    rt.register("recorder", Recorder)
    await rt.spawn("gated", "stuck")
    await rt.spawn("recorder", "fine")
    await rt.tell("stuck", "never finishes")
    await asyncio.sleep(0)
    ask = asyncio.create_task(rt.ask("stuck", "queued"))
    await rt.tell("fine", 1)
    await asyncio.sleep(0)
    with capture_logs() as logs:
        left = await rt.close(timeout=0.05)
    assert left == {"stuck": 2}  # the one being processed and the one queued
    [report] = [e for e in logs if e["event"] == "agents_closed_with_unprocessed"]
    assert report["left"] == {"stuck": 2}
    assert report["log_level"] == "warning"
    with pytest.raises(AgentTerminated):
        await ask
    assert rt.state("fine").count == 1


async def test_idle_agents_own_no_task() -> None:
    baseline = len(asyncio.all_tasks())
    rt = await started_runtime()
    for n in range(200):
        await rt.spawn("recorder", f"agent-{n}")
    assert len(asyncio.all_tasks()) == baseline
    for n in range(200):
        await rt.tell(f"agent-{n}", "work")
    assert len(asyncio.all_tasks()) == baseline + 200  # one per busy agent
    await rt.wait_idle()
    await asyncio.sleep(0)  # the drain tasks have returned; let the loop forget them
    assert len(asyncio.all_tasks()) == baseline
    assert all(rt.status(f"agent-{n}") is AgentStatus.IDLE for n in range(200))


async def test_list_shows_every_agent_with_status_and_depth() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "b")
    await rt.spawn("recorder", "a")
    await rt.terminate("b")
    infos = rt.list()
    assert [(i.id, i.type, i.status, i.depth, i.durable) for i in infos] == [
        ("a", "recorder", AgentStatus.IDLE, 0, False),
        ("b", "recorder", AgentStatus.TERMINATED, 0, False),
    ]
    assert "a" in rt
    assert len(rt) == 2
