"""Spans with the GenAI semantic conventions for calls, attempts and tool calls; none when tracing is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentrt import Runtime
from agentrt.config import TracingSection
from agentrt.errors import ProviderAuthError
from agentrt.observability import Tracing
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.tools import tool


@tool
def lookup(order: str) -> str:
    """Find an order."""
    return f"order {order} shipped"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def config(up: FakeUpstream) -> dict[str, Any]:
    return {
        "logging": {"console": {"format": "off"}},
        "providers": {
            "oai": {
                "kind": "openai",
                "api_key": "sk-x-0123456789",
                "base_url": up.openai_base_url,
                "retry": {"attempts": 2, "backoff": "1ms", "max_backoff": "2ms"},
            }
        },
        "models": {"gpt": {"provider": "oai", "name": "gpt-wire", "capabilities": ["chat", "tools", "streaming"]}},
    }


def traced_runtime(up: FakeUpstream, exporter: InMemorySpanExporter) -> Runtime:
    rt = Runtime.open(config(up), plugins=False)
    tracing = Tracing(TracingSection(enabled=True), span_processor=SimpleSpanProcessor(exporter))
    rt.override(Tracing, tracing)
    return rt


def by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


async def test_a_call_with_a_retry_gives_one_call_span_and_one_span_per_attempt(
    exporter: InMemorySpanExporter,
) -> None:
    async with FakeUpstream() as up:
        up.script(Fault(status=500), Reply(text="hi", usage=(11, 4)))
        async with traced_runtime(up, exporter) as rt:
            await rt.generate("gpt", "hello", user="alice", temperature=0.5)
    spans = exporter.get_finished_spans()
    (call,) = by_name(spans, "chat gpt")
    attempts = by_name(spans, "attempt gpt")
    assert len(attempts) == 2
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert attempts[0].attributes is not None
    assert attempts[0].attributes["error.type"] == "ProviderUnavailable"
    attrs = call.attributes or {}
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt"
    assert attrs["gen_ai.response.model"] == "gpt"
    assert attrs["gen_ai.provider.name"] == "oai"
    assert attrs["gen_ai.usage.input_tokens"] == 11
    assert attrs["gen_ai.usage.output_tokens"] == 4
    assert attrs["gen_ai.request.temperature"] == 0.5
    assert attrs["enduser.id"] == "alice"
    assert attrs["agentrt.attempts"] == 2


async def test_tool_calls_get_execute_tool_spans(exporter: InMemorySpanExporter) -> None:
    async with FakeUpstream() as up:
        up.script(Reply(tool_calls=[("lookup", {"order": "A-1"})]), Reply(text="shipped"))
        async with traced_runtime(up, exporter) as rt:
            await rt.generate("gpt", "where is A-1?", tools=[lookup])
    (span,) = by_name(exporter.get_finished_spans(), "execute_tool lookup")
    attrs = span.attributes or {}
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "lookup"
    assert attrs["gen_ai.tool.call.id"]


async def test_a_failed_call_span_is_marked_with_the_error(exporter: InMemorySpanExporter) -> None:
    async with FakeUpstream() as up:
        up.script(Fault(status=401))
        async with traced_runtime(up, exporter) as rt:
            with pytest.raises(ProviderAuthError):
                await rt.generate("gpt", "hello")
    (call,) = by_name(exporter.get_finished_spans(), "chat gpt")
    assert (call.attributes or {})["error.type"] == "ProviderAuthError"
    assert not call.status.is_ok


async def test_a_stream_gets_one_span_with_usage_also_when_read_to_the_end(exporter: InMemorySpanExporter) -> None:
    async with FakeUpstream() as up:
        up.script(Reply(text="a streamed answer", usage=(3, 5)))
        async with traced_runtime(up, exporter) as rt:
            _ = [e async for e in rt.stream("gpt", "hi")]
    (call,) = by_name(exporter.get_finished_spans(), "chat gpt")
    assert (call.attributes or {})["gen_ai.usage.output_tokens"] == 5


def test_with_tracing_off_no_opentelemetry_code_runs(tmp_path: Path) -> None:
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import asyncio, sys
        from agentrt import Runtime
        cfg = {"logging": {"console": {"format": "off"}}, "providers": {"o": {"kind": "local"}},
               "models": {"m": {"provider": "o"}}}
        async def main():
            async with Runtime.open(cfg, plugins=False) as rt:
                await rt.generate("m", "hi")
        asyncio.run(main())
        print("opentelemetry" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
