"""Whom an agent's work is for: the owner that spawned it, and the sender of each activity, whose principal
its model calls carry (unless the agent type names its own, or the handler passes one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents_support import Tally, gated

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.agents.durable import StoreAgentStore
from agentrt.calls import Principal
from agentrt.store import open_store

ALICE = Principal("alice", "acme", api_key="alice-key", tags=("gold",))


class FakeCalls:
    """Stands for the call pipeline: answers at once and remembers the principal of each call."""

    def __init__(self) -> None:
        self.principals: list[Principal] = []

    async def generate(self, model: str, prompt: Any, **options: Any) -> Any:
        self.principals.append(options["principal"])

        class Answer:
            text = f"echo: {prompt}"

        return Answer()


class Caller(Agent[None]):
    """``generate``: one model call; ``for-customer``: a call naming its user; ``pass``: hand on to agent
    ``b``, which calls the model."""

    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
        if activity.type == "for-customer":
            return (await ctx.generate("x", user="customer-7")).text
        if activity.type == "pass":
            return await ctx.ask("b", Activity("passed on", type="generate"))
        return (await ctx.generate(activity.payload)).text


async def runtime(calls: FakeCalls) -> AgentRuntime:
    rt = AgentRuntime(calls=calls)  # type: ignore[arg-type]
    rt.register("caller", Caller, model="m")
    rt.register("billing", Caller, model="m", user="billing-bot", tenant="books")
    await rt.start()
    return rt


async def test_an_activity_s_model_calls_run_as_its_sender() -> None:
    calls = FakeCalls()
    rt = await runtime(calls)
    await rt.spawn("caller", "a")
    await rt.spawn("caller", "b")
    await rt.spawn("billing", "bill")
    await rt.ask("a", Activity("hi", type="generate"), sender=ALICE)
    await rt.ask("a", Activity("hi", type="generate"))  # no sender: the agent itself
    await rt.ask("bill", Activity("hi", type="generate"), sender=ALICE)  # the type names its own
    await rt.ask("a", Activity("hi", type="for-customer"), sender=ALICE)  # the handler names one
    await rt.tell("a", Activity("hi", type="pass"), sender=ALICE)  # passed on: still alice's work
    await rt.wait_idle()
    assert calls.principals == [
        ALICE,
        Principal("a", None),
        Principal("billing-bot", "books"),
        Principal("customer-7", None),
        ALICE,
    ]


async def test_a_durable_agent_keeps_its_owner_and_its_activities_their_sender_across_restarts(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'agents.db'}"
    seen: list[Any] = []

    class Keeper(Agent[Tally]):  # the state type of the gated agent it takes over from
        async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> None:
            seen.append(activity.sender)

    async with open_store(url) as store:
        first = AgentRuntime(store=StoreAgentStore(store))
        gated(first, "keeper", durable=True)
        await first.start()
        await first.spawn("keeper", "k", owner=Principal("bob", "acme"))
        [info] = first.list()
        assert (info.owner_user, info.owner_tenant) == ("bob", "acme")
        assert first.owner("k") == Principal("bob", "acme")
        await first.tell("k", "kept", sender=ALICE)  # the gate stays shut: still journaled at close
        await first.close(timeout=0.05)

    async with open_store(url) as store:
        second = AgentRuntime(store=StoreAgentStore(store))
        second.register("keeper", Keeper, durable=True)
        await second.start()
        await second.wait_idle()
        assert second.owner("k") == Principal("bob", "acme")
        [info] = second.list()
        assert (info.owner_user, info.owner_tenant) == ("bob", "acme")
        await second.close()
    assert seen == [ALICE]
