"""Running the tool calls a model asks for: each concurrently, through the governed path.

Every call goes through :class:`~agentrt.tools._governance.ToolGovernor` with
the model call's principal and request id: policy (rules, tool limits, cost
budgets), approval when required, a timeout, one audit row, metrics and the
``execute_tool {name}`` span. A denial, a rejection, a timeout or a tool's
failure becomes the tool message's ``error: ...`` text, so the model is told
and the loop goes on.

Two kinds of tools reach here: Python tools passed to one call (``tools=[fn]``),
governed by their bare name, and registry tools (``tools=["github.search_*"]``),
whose runnable set answers ``info(wire_name)`` with the :class:`ToolInfo` (and
runs them with ``call(wire_name, arguments)``): they are governed by their full
name ``toolkit.tool``, with their configured settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentrt.types import Message, ToolCall

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from agentrt.calls.principal import Principal
    from agentrt.observability.tracing import Tracing
    from agentrt.tools import ToolSet
    from agentrt.tools._governance import Execute, GovernedSettings, ToolGovernor
    from agentrt.tools._source import ToolOutput

__all__ = ["run_tool_calls"]


async def run_tool_calls(
    toolset: ToolSet,
    calls: list[ToolCall],
    log: Any = None,
    tracing: Tracing | None = None,
    governor: ToolGovernor | None = None,
    call: Any = None,
) -> list[Message]:
    """Run the calls concurrently; each answer (or error, told to the model) becomes a tool message.

    ``call`` is the model call's settings (its ``principal`` and ``request_id``; and
    ``parent_span``, the OpenTelemetry context of the model call, when the pipeline keeps one).
    """
    if governor is None:  # a pipeline used without a runtime: still one path (span, log line), nothing configured
        from agentrt.tools._governance import ToolGovernor

        governor = ToolGovernor(tracing=tracing)
    principal: Principal | None = getattr(call, "principal", None)
    request_id: str | None = getattr(call, "request_id", None)
    parent = _parent_context(getattr(call, "parent_span", None))
    results = await asyncio.gather(
        *(_run_one(governor, toolset, tool_call, principal, request_id, parent) for tool_call in calls)
    )
    return [
        Message.tool(tool_call.id, _text(output), name=tool_call.name)
        for tool_call, output in zip(calls, results, strict=True)
    ]


def _parent_context(span: Any) -> Context | None:
    """The OpenTelemetry context whose current span is the model call's that asked for the tools."""
    if span is None:
        return None
    from opentelemetry import trace

    return trace.set_span_in_context(span)


def _text(output: ToolOutput) -> str:
    """What the model reads: a failure is marked ``error:`` (governance's own refusals already are)."""
    if output.is_error and not output.text.startswith("error:"):
        return f"error: {output.text}"
    return output.text


async def _run_one(
    governor: ToolGovernor,
    toolset: ToolSet,
    tool_call: ToolCall,
    principal: Principal | None,
    request_id: str | None,
    parent: Context | None,
) -> ToolOutput:
    name, execute, settings = _target(governor, toolset, tool_call.name)
    return await governor.run(
        name,
        tool_call.arguments,
        execute,
        principal=principal,
        request_id=request_id,
        settings=settings,
        call_id=tool_call.id,
        parent=parent,
    )


def _target(governor: ToolGovernor, toolset: Any, wire_name: str) -> tuple[str, Execute, GovernedSettings]:
    """The governed name, the runner and the settings of the tool the model called ``wire_name``."""
    from agentrt.tools._governance import DEFAULT_SETTINGS
    from agentrt.tools._source import ToolOutput

    info_of = getattr(toolset, "info", None)
    info = info_of(wire_name) if info_of is not None else None
    if info is not None:  # a registry tool: governed and run by its full name, with its configured settings
        full_name: str = info.full_name

        async def run_registered(arguments: Mapping[str, Any], timeout: float | None) -> ToolOutput:
            output: ToolOutput = await toolset.call(wire_name, arguments)  # the governor bounds it by `timeout`
            return output

        return full_name, run_registered, governor.settings_for(full_name)

    async def run_python(arguments: Mapping[str, Any], timeout: float | None) -> ToolOutput:
        # A sync tool runs in a thread, which a timeout cannot stop: the call stops waiting for it.
        async with asyncio.timeout(timeout):
            return ToolOutput(await toolset.invoke(wire_name, arguments))

    return wire_name, run_python, DEFAULT_SETTINGS
