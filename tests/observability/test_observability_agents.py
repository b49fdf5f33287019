"""Agent metrics by type (read at scrape time) and a span per processed activity."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext
from agentrt.config import TracingSection
from agentrt.observability import Tracing

CONFIG: dict[str, Any] = {
    "logging": {"console": {"format": "off"}},
    "store": {"url": "memory://"},
    "providers": {"offline": {"kind": "local"}},
    "models": {"local": {"provider": "offline", "aliases": ["default"]}},
}


class Seen(BaseModel):
    count: int = 0


class Echo(Agent[Seen]):
    async def handle(self, activity: Activity, ctx: AgentContext[Seen]) -> str:
        if activity.payload == "boom":
            raise ValueError("boom")
        ctx.state.count += 1
        completion = await ctx.generate(str(activity.payload))
        return completion.text


async def test_metrics_sum_the_agents_counters_by_type() -> None:
    async with Runtime.open(CONFIG, plugins=False) as rt:
        rt.agents.register("echo", Echo, model="default", restart={"strategy": "resume"})
        await rt.agents.spawn("echo", "a")
        await rt.agents.spawn("echo", "b")
        assert await rt.agents.ask("a", "hello") == "echo: hello"
        await rt.agents.ask("b", "hi")
        with pytest.raises(ValueError, match="boom"):
            await rt.agents.ask("b", "boom")
        text = rt.metrics.render().decode()
    assert 'agentrt_agent_activities_total{type="echo"} 2.0' in text
    assert 'agentrt_agent_failures_total{type="echo"} 1.0' in text
    assert 'agentrt_agent_mailbox_depth{type="echo"} 0.0' in text
    assert 'agentrt_agents{status="idle",type="echo"} 1.0' in text
    assert 'agentrt_agents{status="error",type="echo"} 1.0' in text
    assert "agentrt_agent_processing_seconds_total" in text


async def test_each_activity_gets_a_span_and_its_model_calls_are_children() -> None:
    exporter = InMemorySpanExporter()
    rt = Runtime.open(CONFIG, plugins=False)
    rt.override(Tracing, Tracing(TracingSection(enabled=True), span_processor=SimpleSpanProcessor(exporter)))
    async with rt:
        rt.agents.register("echo", Echo, model="default")
        await rt.agents.spawn("echo", "a")
        await rt.agents.ask("a", "hello", priority="high")
    spans = exporter.get_finished_spans()
    (activity,) = [s for s in spans if s.name == "invoke_agent echo"]
    (chat,) = [s for s in spans if s.name == "chat default"]
    attrs = activity.attributes or {}
    assert attrs["gen_ai.agent.id"] == "a"
    assert attrs["gen_ai.agent.name"] == "echo"
    assert chat.parent is not None
    assert chat.parent.span_id == activity.context.span_id
