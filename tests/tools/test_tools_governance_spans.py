"""The span of a governed tool call: ``execute_tool {name}``, a child of the model call that asked for it."""

from __future__ import annotations

from pathlib import Path

from governance_support import fake_config
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentrt import Runtime
from agentrt.config import TracingSection
from agentrt.observability import Tracing
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools import tool


@tool
def lookup(order: str) -> str:
    """Find an order."""
    return f"{order} shipped"


def _one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == name]
    return span


async def _traced(up: FakeUpstream, tmp_path: Path, exporter: InMemorySpanExporter, **sections: object) -> Runtime:
    rt = Runtime.open(fake_config(up, tmp_path, **sections), plugins=False)
    rt.override(Tracing, Tracing(TracingSection(enabled=True), span_processor=SimpleSpanProcessor(exporter)))
    return rt


async def test_execute_tool_is_a_child_of_the_model_call_that_asked_for_it(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    async with FakeUpstream() as up:
        up.script(Reply(tool_calls=[("lookup", {"order": "A-1"})]), Reply(text="A-1 shipped."))
        async with await _traced(up, tmp_path, exporter) as rt:
            await rt.generate("gpt", "where is A-1?", tools=[lookup], user="alice")
    spans = exporter.get_finished_spans()
    tool_span = _one(spans, "execute_tool lookup")
    chats = [s for s in spans if s.name == "chat gpt"]
    assert len(chats) == 2
    asking = min(chats, key=lambda s: s.start_time or 0)  # the first model call asked for the tool
    assert tool_span.parent is not None
    assert asking.context is not None
    assert tool_span.parent.span_id == asking.context.span_id
    assert tool_span.context is not None
    assert tool_span.context.trace_id == asking.context.trace_id
    attrs = tool_span.attributes or {}
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "lookup"
    assert attrs["gen_ai.tool.call.id"]
    assert (attrs["agentrt.tool.decision"], attrs["agentrt.tool.outcome"]) == ("allow", "ok")
    assert "error.type" not in attrs


async def test_a_denied_tool_calls_span_says_so(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    rules = [{"name": "no-lookups", "effect": "deny", "match": {"tools": ["lookup"]}}]
    async with FakeUpstream() as up:
        up.script(Reply(tool_calls=[("lookup", {"order": "A-1"})]), Reply(text="I cannot look."))
        async with await _traced(up, tmp_path, exporter, policies={"rules": rules}) as rt:
            await rt.generate("gpt", "where is A-1?", tools=[lookup], user="alice")
    attrs = _one(exporter.get_finished_spans(), "execute_tool lookup").attributes or {}
    assert (attrs["agentrt.tool.decision"], attrs["agentrt.tool.outcome"]) == ("deny", "denied")
    assert attrs["error.type"] == "tool_denied"
