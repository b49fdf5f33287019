"""Agents call models through the runtime's pipeline, as their own principal, with their type's model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agents_support import agents_of, local_config, with_agents
from pydantic import BaseModel

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.calls import Admission, PolicyHook
from agentrt.errors import ModelError, RuntimeStateError
from agentrt.types import Completed, TextDelta, Usage


class RecordingPolicy:
    """Admits everything and remembers who asked: the principal each agent's calls carry."""

    def __init__(self) -> None:
        self.admitted: list[Admission] = []

    async def admit(self, admission: Admission) -> object:
        self.admitted.append(admission)
        return None

    async def settle(self, reservation: object | None, usage: Usage, cost: float | None) -> None:
        return None

    async def release(self, reservation: object | None) -> None:
        return None


class Verdict(BaseModel):
    label: str


class Caller(Agent[None]):
    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
        kind, text = activity.type, activity.payload
        if kind == "generate":
            return (await ctx.generate(text)).text
        if kind == "named":
            completion = await ctx.generate("local-small", text)
            return completion.model
        if kind == "for-customer":
            return (await ctx.generate(text, user="customer-7")).text
        if kind == "stream":
            parts = [e.text async for e in ctx.stream(text) if isinstance(e, TextDelta)]
            return "".join(parts)
        if kind == "object":
            return await ctx.generate_object(text, schema=Verdict)
        if kind == "embed":
            return len((await ctx.embed(["a", "b"])).vectors)
        raise ValueError(kind)


def open_runtime(tmp_path: Path, policy: RecordingPolicy, **agents: Any) -> Runtime:
    rt = Runtime.open(local_config(tmp_path, agents=agents), plugins=False)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    return with_agents(rt)


async def test_model_calls_carry_the_agents_principal_and_default_model(tmp_path: Path) -> None:
    policy = RecordingPolicy()
    async with open_runtime(
        tmp_path,
        policy,
        caller={"class": "test_agents_models:Caller", "model": "default"},
        billing={"class": "test_agents_models:Caller", "model": "local-small", "user": "billing-bot", "tenant": "acme"},
    ) as rt:
        agents = agents_of(rt)
        await agents.spawn("caller", "caller-1")
        await agents.spawn("billing", "billing-1")
        assert await agents.ask("caller-1", Activity("hello", type="generate")) == "echo: hello"
        assert await agents.ask("billing-1", Activity("refund", type="generate")) == "echo: refund"
        assert await agents.ask("caller-1", Activity("hi", type="named")) == "local-small"
        assert await agents.ask("billing-1", Activity("hi", type="for-customer")) == "echo: hi"
        assert await agents.ask("caller-1", Activity("one two", type="stream")) == "echo: one two"
        verdict = await agents.ask("caller-1", Activity("classify", type="object"))
        assert isinstance(verdict, Verdict)
        assert await agents.ask("billing-1", Activity("", type="embed")) == 2
    who = [(a.principal.user, a.principal.tenant, a.operation) for a in policy.admitted]
    assert who == [
        ("caller-1", None, "generate"),  # user defaults to the agent's id
        ("billing-bot", "acme", "generate"),  # the type's configured user and tenant
        ("caller-1", None, "generate"),
        ("customer-7", "acme", "generate"),  # an explicit user wins; the tenant stays the agent's
        ("caller-1", None, "stream"),
        ("caller-1", None, "object"),
        ("billing-bot", "acme", "embed"),
    ]
    assert {a.model.name for a in policy.admitted} == {"local-small"}


async def test_a_type_without_a_model_says_how_to_configure_one(tmp_path: Path) -> None:
    async with open_runtime(tmp_path, RecordingPolicy(), caller={"class": "test_agents_models:Caller"}) as rt:
        agents = agents_of(rt)
        await agents.spawn("caller", "c")
        with pytest.raises(ModelError, match=r"agent type 'caller' has no model configured: set agents.caller.model"):
            await agents.ask("c", Activity("x", type="generate"))


async def test_an_agent_runtime_without_a_pipeline_cannot_call_models() -> None:
    agents = AgentRuntime()
    agents.register("caller", Caller, model="default", restart={"strategy": "resume"})
    await agents.spawn("caller", "c")
    with pytest.raises(RuntimeStateError, match="no call pipeline"):
        await agents.ask("c", Activity("x", type="generate"))


async def test_stream_events_end_with_the_completion(tmp_path: Path) -> None:
    class Streamer(Agent[None]):
        async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
            return [type(e).__name__ for e in [e async for e in ctx.stream("default", "a b")]][-1]

    async with open_runtime(tmp_path, RecordingPolicy()) as rt:
        agents = agents_of(rt)
        agents.register("streamer", Streamer)
        await agents.spawn("streamer", "s")
        assert await agents.ask("s", None) == Completed.__name__
