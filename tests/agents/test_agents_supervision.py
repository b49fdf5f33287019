"""Handler failures: logged, counted, published, returned to askers; then resume, restart or stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents_support import Recorder
from structlog.testing import capture_logs

from agentrt.agents import (
    Activity,
    ActivityFailed,
    Agent,
    AgentContext,
    AgentRestarted,
    AgentRuntime,
    AgentStatus,
    StatusChanged,
)
from agentrt.errors import AgentError


async def runtime_with(strategy: str, **restart: Any) -> AgentRuntime:
    rt = AgentRuntime()
    rt.register("recorder", Recorder, restart={"strategy": strategy, **restart})
    await rt.start()
    await rt.spawn("recorder", "r")
    return rt


async def test_a_failure_is_logged_with_agent_and_activity_counted_and_published() -> None:
    rt = await runtime_with("resume")
    events = rt.subscribe("r")
    with capture_logs() as logs:
        activity = await rt.tell("r", {"fail": "card declined"}, priority="high")
        await rt.wait_idle()
    [failure] = [e for e in logs if e["event"] == "agent_activity_failed"]
    assert failure["log_level"] == "error"
    assert (failure["agent"], failure["agent_type"]) == ("r", "recorder")
    assert (failure["activity"], failure["priority"]) == (activity.id, 2)
    assert isinstance(failure["exc_info"], RuntimeError)
    assert rt.stats("r").mailbox.failed == 1
    assert rt.status("r") is AgentStatus.ERROR  # until an activity succeeds again
    seen = [events._events.popleft() for _ in range(events.pending)]
    failed = [e for e in seen if isinstance(e, ActivityFailed)]
    assert [str(e.error) for e in failed] == ["card declined"]
    assert failed[0].activity == activity.id
    assert [e.status for e in seen if isinstance(e, StatusChanged)] == ["processing", "error"]
    assert await rt.ask("r", "next") == 101
    assert rt.status("r") is AgentStatus.IDLE


async def test_resume_keeps_the_state_the_handler_left() -> None:
    rt = await runtime_with("resume")
    await rt.ask("r", "a")
    with pytest.raises(RuntimeError):
        await rt.ask("r", {"fail": "x"})
    assert rt.state("r").count == 101


async def test_restart_reloads_the_last_good_state_and_builds_a_fresh_agent() -> None:
    rt = await runtime_with("restart", max_restarts=3, within=60)
    await rt.ask("r", "a")
    events = rt.subscribe("r")
    with capture_logs() as logs, pytest.raises(RuntimeError):
        await rt.ask("r", {"fail": "x"})
    assert rt.state("r").count == 1  # the +100 of the failed activity is gone
    assert rt.state("r").seen == ["a"]
    assert any(e["event"] == "agent_restarted" for e in logs)
    restarted = [e for e in events._events if isinstance(e, AgentRestarted)]
    assert [e.restarts for e in restarted] == [1]
    assert await rt.ask("r", "b") == 2
    assert rt.stats("r").restarts == 1


async def test_an_agent_that_used_up_its_restarts_is_failed_and_keeps_its_mailbox_until_resumed() -> None:
    rt = await runtime_with("restart", max_restarts=2, within=60, backoff=0)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            await rt.ask("r", {"fail": "again"})
    assert rt.status("r") is AgentStatus.IDLE or rt.status("r") is AgentStatus.ERROR
    queued = await rt.tell("r", "queued behind the last failure", priority="low")
    with capture_logs() as logs, pytest.raises(RuntimeError):
        await rt.ask("r", {"fail": "third"})
    assert rt.status("r") is AgentStatus.FAILED  # not terminated: listed, with the reason, its work kept
    [failed] = [e for e in logs if e["event"] == "agent_failed"]
    assert "more than 2 restarts within 60s" in failed["reason"]
    assert failed["waiting"] == 2  # the activity it failed on, and the one queued behind it
    [info] = rt.list()
    assert info.status is AgentStatus.FAILED
    assert info.reason is not None
    assert "more than 2 restarts" in info.reason
    assert queued.id
    with pytest.raises(AgentError, match="failed and takes no activities until it is resumed"):
        await rt.tell("r", "more")
    await rt.resume("r")
    await rt.wait_idle()
    # Resumed with its restarts counted afresh: the kept activity fails again (a restart), the queued one is done.
    assert rt.status("r") is AgentStatus.IDLE
    assert rt.state("r").seen == ["queued behind the last failure"]
    assert rt.stats("r").restarts == 1
    with pytest.raises(AgentError, match="not failed"):
        await rt.resume("r")


async def test_a_failed_agent_can_be_terminated() -> None:
    rt = await runtime_with("restart", max_restarts=0, backoff=0)
    await rt.tell("r", {"fail": "poison"})
    await rt.wait_idle()
    assert rt.status("r") is AgentStatus.FAILED
    assert await rt.terminate("r") == 1  # the kept activity goes with it
    assert rt.status("r") is AgentStatus.TERMINATED


async def test_restarts_back_off_exponentially() -> None:
    rt = await runtime_with("restart", max_restarts=10, within=60, backoff=0.05, max_backoff=0.1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(4):
        await rt.tell("r", {"fail": "crash"})
    await rt.tell("r", "after")
    await rt.wait_idle()
    # Waits of 0.05, 0.1 (capped), 0.1, 0.1 between the activities that follow a restart.
    assert loop.time() - began >= 0.35
    assert rt.state("r").seen == ["after"]


async def test_restarts_outside_the_window_do_not_count() -> None:
    rt = await runtime_with("restart", max_restarts=1, within=0.001)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await rt.ask("r", {"fail": "now and then"})
        await asyncio.sleep(0.01)
    assert rt.status("r") is not AgentStatus.TERMINATED


async def test_stop_terminates_the_agent_at_the_first_failure() -> None:
    rt = await runtime_with("stop")
    with pytest.raises(RuntimeError):
        await rt.ask("r", {"fail": "fatal"})
    assert rt.status("r") is AgentStatus.TERMINATED
    assert [a.status for a in rt.list()] == [AgentStatus.TERMINATED]


async def test_a_failing_agent_never_harms_the_runtime_or_other_agents() -> None:
    rt = await runtime_with("stop")
    await rt.spawn("recorder", "healthy")
    with pytest.raises(RuntimeError):
        await rt.ask("r", {"fail": "boom"})
    assert await rt.ask("healthy", "fine") == 1


class Hooked(Agent[list[str]]):
    async def on_start(self, ctx: AgentContext[list[str]]) -> None:
        ctx.state.append("start")

    async def handle(self, activity: Activity, ctx: AgentContext[list[str]]) -> None:
        if activity.payload == "fail":
            raise ValueError("bad")
        ctx.state.append(activity.payload)

    async def on_stop(self, ctx: AgentContext[list[str]]) -> None:
        ctx.state.append("stop")


async def test_hooks_run_at_spawn_restart_and_terminate() -> None:
    rt = AgentRuntime()
    rt.register("hooked", Hooked, restart={"strategy": "restart"})
    await rt.spawn("hooked", "h", state=[])
    assert rt.state("h") == ["start"]
    await rt.ask("h", "one")
    with pytest.raises(ValueError, match="bad"):
        await rt.ask("h", "fail")
    assert rt.state("h") == ["start", "one", "start"]  # the last good state, then on_start again
    await rt.terminate("h")
    assert rt.state("h") == ["start", "one", "start", "stop"]
