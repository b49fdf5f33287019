"""A durable agent's state is validated before it is saved, and an agent whose saved state cannot be restored
is listed as failed with the reason, its data kept: never a lost agent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentrt.agents import (
    Activity,
    ActivityFailed,
    Agent,
    AgentContext,
    AgentRuntime,
    AgentStatus,
    MemoryAgentStore,
)
from agentrt.agents.durable import StoreAgentStore
from agentrt.errors import AgentError
from agentrt.store import open_store


class Count(BaseModel):
    n: int = 0


@dataclass
class Tally:
    n: int = 0


class Counter(Agent[Count]):
    async def handle(self, activity: Activity, ctx: AgentContext[Count]) -> int:
        if activity.payload == "corrupt":
            ctx.state.n = "not a number"  # type: ignore[assignment]  # pydantic does not check assignments
        else:
            ctx.state.n += 1
        return ctx.state.n


class DataclassCounter(Agent[Tally]):
    async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> Any:
        ctx.state.n = activity.payload
        return ctx.state.n


@pytest.mark.parametrize("strategy", ["resume", "restart"])
async def test_a_handler_leaving_an_invalid_state_fails_the_activity_and_the_agent_lives_on(
    tmp_path: Path, strategy: str
) -> None:
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    async with open_store(url) as store:
        rt = AgentRuntime(store=StoreAgentStore(store))
        rt.register("counter", Counter, durable=True, restart={"strategy": strategy, "backoff": 0})
        await rt.start()
        await rt.spawn("counter", "c")
        assert await rt.ask("c", "+1") == 1
        events = rt.subscribe("c")
        with pytest.raises(AgentError, match=r"left a state that is not a valid Count, so it was not saved"):
            await rt.ask("c", "corrupt")
        assert any(isinstance(e, ActivityFailed) for e in events._events)
        assert rt.status("c") is AgentStatus.ERROR
        assert rt.state("c") == Count(n=1)  # back to the last saved state
        assert await rt.ask("c", "+1") == 2
        await rt.close()
    async with open_store(url) as store:
        again = AgentRuntime(store=StoreAgentStore(store))
        again.register("counter", Counter, durable=True)
        await again.start()
        assert again.state("c") == Count(n=2)
        await again.close()


async def test_a_dataclass_state_of_the_wrong_type_is_refused_too() -> None:
    rt = AgentRuntime(store=MemoryAgentStore())
    rt.register("tally", DataclassCounter, durable=True, restart={"strategy": "resume"})
    await rt.start()
    await rt.spawn("tally", "t")
    assert await rt.ask("t", 3) == 3
    with pytest.raises(AgentError, match="not a valid Tally"):
        await rt.ask("t", "three")
    assert rt.state("t") == Tally(n=3)


async def test_a_saved_state_that_does_not_restore_leaves_the_agent_failed_with_its_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    async with open_store(url) as store:
        agents = StoreAgentStore(store)
        await agents.open()
        await agents.save_agent("c", "counter", '{"n": "forty"}')  # written by an older, looser version
        await agents.journal("c", 1, Activity("waiting"))
        rt = AgentRuntime(store=agents)
        rt.register("counter", Counter, durable=True)
        await rt.start()
        [info] = rt.list()
        assert info.status is AgentStatus.FAILED
        assert info.reason is not None
        assert "its saved state could not be restored as Count" in info.reason
        with pytest.raises(AgentError, match="still does not restore as Count"):
            await rt.resume("c")
        await rt.close()
        kept = await agents.get("c")
        assert kept is not None
        assert kept.status == "failed"
        assert kept.state == '{"n": "forty"}'
        assert [s.activity.payload for s in kept.pending] == ["waiting"]
