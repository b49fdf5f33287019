"""Running the tool calls a model asks for: each concurrently, traced, its outcome logged."""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentrt.errors import ToolArgumentsError, ToolError
from agentrt.types import Message, ToolCall

if TYPE_CHECKING:
    from agentrt.observability.tracing import Tracing
    from agentrt.tools import ToolSet

__all__ = ["run_tool_calls"]


async def run_tool_calls(
    toolset: ToolSet, calls: list[ToolCall], log: Any, tracing: Tracing | None = None
) -> list[Message]:
    """Run the calls concurrently; each answer (or error, told to the model) becomes a tool message."""
    results = await asyncio.gather(*(_traced(toolset, call, log, tracing) for call in calls))
    return [Message.tool(call.id, result, name=call.name) for call, result in zip(calls, results, strict=True)]


async def _traced(toolset: ToolSet, call: ToolCall, log: Any, tracing: Tracing | None) -> str:
    if tracing is None:
        return await _run_one(toolset, call, log)
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
    }
    with tracing.span(f"execute_tool {call.name}", attributes) as span:
        result = await _run_one(toolset, call, log)
        if span is not None and result.startswith("error:"):
            span.set_attribute("error.type", "tool_error")
        return result


async def _run_one(toolset: ToolSet, call: ToolCall, log: Any) -> str:
    started = perf_counter()
    try:
        result = await toolset.invoke(call.name, call.arguments)
    except ToolArgumentsError as err:
        outcome, result = "bad_arguments", f"error: the arguments did not validate: {'; '.join(err.problems) or err}"
    except ToolError as err:  # e.g. a tool name the model made up
        outcome, result = "unknown_tool", f"error: {err}"
    except Exception as err:  # the model is told, so it can try again or explain; the log keeps it visible
        outcome, result = "failed", f"error: the tool raised {type(err).__name__}: {err}"
        log.warning("tool_failed", tool=call.name, call_id=call.id, error_type=type(err).__name__, error=str(err))
    else:
        outcome = "ok"
    log.info(
        "tool_call",
        tool=call.name,
        call_id=call.id,
        outcome=outcome,
        latency_ms=round((perf_counter() - started) * 1000, 3),
    )
    return result
