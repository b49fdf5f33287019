"""ask: results, errors, timeouts; agent-to-agent messages; unknown and terminated agents."""

from __future__ import annotations

from typing import Any

import pytest
from agents_support import Recorder, gated, started_runtime

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.errors import AgentError, AgentNotFound, AgentTerminated, AgentTimeout


async def test_ask_returns_the_handlers_result() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "r")
    assert await rt.ask("r", "a") == 1
    assert await rt.ask("r", "b", priority="high", timeout=5) == 2
    assert rt.state("r").seen == ["a", "b"]


async def test_ask_raises_the_handlers_own_error() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "r")
    with pytest.raises(RuntimeError, match=r"^no such invoice$"):
        await rt.ask("r", {"fail": "no such invoice"})
    assert await rt.ask("r", "after") == 101  # resume: the runtime and the agent go on


async def test_a_handler_raising_timeout_error_is_not_taken_for_the_asks_timeout() -> None:
    class Slowpoke(Agent[None]):
        async def handle(self, activity: Activity, ctx: AgentContext[None]) -> None:
            raise TimeoutError("the upstream timed out")

    rt = AgentRuntime()
    rt.register("slow", Slowpoke, restart={"strategy": "resume"})
    await rt.spawn("slow", "s")
    with pytest.raises(TimeoutError, match="the upstream timed out") as caught:
        await rt.ask("s", 1, timeout=5)
    assert not isinstance(caught.value, AgentTimeout)


async def test_ask_timeout_raises_agent_timeout_and_the_activity_is_still_processed() -> None:
    rt = AgentRuntime()
    cls = gated(rt)
    await rt.spawn("gated", "g")
    with pytest.raises(AgentTimeout, match=r"agent 'g' did not answer within 0.05s") as caught:
        await rt.ask("g", "late", timeout=0.05)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.timeout == 0.05
    assert cls.gate is not None
    cls.gate.release()
    await rt.wait_idle()
    assert rt.state("g").seen == ["late"]


async def test_unknown_and_terminated_agents_are_refused_clearly() -> None:
    rt = await started_runtime()
    with pytest.raises(AgentNotFound, match="no agent 'ghost': spawn it first"):
        await rt.tell("ghost", 1)
    with pytest.raises(AgentNotFound):
        await rt.ask("ghost", 1)
    with pytest.raises(AgentNotFound):
        rt.state("ghost")
    await rt.spawn("recorder", "r")
    await rt.terminate("r")
    with pytest.raises(AgentTerminated, match="'r' is terminated"):
        await rt.tell("r", 1)
    with pytest.raises(AgentTerminated):
        await rt.ask("r", 1)
    await rt.spawn("recorder", "r")  # a terminated id may be reused
    assert await rt.ask("r", 1) == 1


async def test_spawn_refuses_duplicates_and_unknown_types() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "r")
    with pytest.raises(AgentError, match="agent 'r' already exists"):
        await rt.spawn("recorder", "r")
    assert await rt.spawn("recorder", "r", exist_ok=True) == "r"
    with pytest.raises(AgentError, match="no agent type 'nope' is registered"):
        await rt.spawn("nope", "x")


async def test_state_is_validated_from_a_dict_and_defaults_when_omitted() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "given", state={"count": 41})
    assert await rt.ask("given", "x") == 42
    await rt.spawn("recorder", "default")
    assert rt.state("default").count == 0


class Coordinator(Agent[None]):
    """Asks a worker and tells an auditor, passing the correlation id on."""

    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
        answer = await ctx.ask("worker", activity.payload)
        note = await ctx.send("auditor", {"answer": answer}, priority="low")
        return {"answer": answer, "note": note.id}


class Auditor(Agent[list[Activity]]):
    async def handle(self, activity: Activity, ctx: AgentContext[list[Activity]]) -> None:
        ctx.state.append(activity)


async def test_agents_ask_and_tell_each_other_with_correlation_and_reply_to() -> None:
    rt = AgentRuntime()
    rt.register("coordinator", Coordinator)
    rt.register("worker", Recorder)
    rt.register("auditor", Auditor)
    await rt.spawn("coordinator", "boss")
    await rt.spawn("worker", "worker")
    await rt.spawn("auditor", "auditor", state=[])
    request = Activity("job-1", type="job")
    result = await rt.ask("boss", request)
    assert result["answer"] == 1
    await rt.wait_idle()
    [note] = rt.state("auditor")
    assert note.payload == {"answer": 1}
    assert note.id == result["note"]
    assert note.reply_to == "boss"
    assert note.correlation_id == request.id  # the whole piece of work shares one id
    assert note.priority_name == "low"


class Ping(Agent[None]):
    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
        if activity.payload == "self":
            return await ctx.ask(ctx.id, "again")
        return await ctx.ask("pong", "ball")


class Pong(Agent[None]):
    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
        return await ctx.ask("ping", "back")


async def test_an_ask_cycle_fails_at_once_instead_of_deadlocking() -> None:
    rt = AgentRuntime()
    rt.register("ping", Ping, restart={"strategy": "resume"})
    rt.register("pong", Pong, restart={"strategy": "resume"})
    await rt.spawn("ping", "ping")
    await rt.spawn("pong", "pong")
    with pytest.raises(AgentError, match=r"ask cycle pong -> ping -> pong"):
        await rt.ask("ping", "serve", timeout=5)
    with pytest.raises(AgentError, match=r"ask cycle ping -> ping"):
        await rt.ask("ping", "self", timeout=5)
