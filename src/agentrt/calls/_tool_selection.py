"""Which tools a call offers the model, and which of them agentrt runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from agentrt.errors import ToolError
from agentrt.types import ToolSpec

if TYPE_CHECKING:
    from agentrt.tools import Tool, ToolSet

__all__ = ["ToolsArg", "resolve_tools"]

ToolsArg: TypeAlias = "ToolSet | Sequence[Tool[..., Any] | Callable[..., Any] | ToolSpec] | None"


def resolve_tools(tools: ToolsArg) -> tuple[ToolSet | None, list[ToolSpec]]:
    """The runnable tools (None when only specs were given) and the specs to offer the model."""
    if tools is None:
        return None, []
    from agentrt.tools import ToolSet

    if isinstance(tools, ToolSet):
        return tools, tools.specs()
    items = list(tools)
    specs = [item for item in items if isinstance(item, ToolSpec)]
    if len(specs) == len(items):
        return None, specs
    if specs:
        raise ToolError(
            "pass either tools to run (functions or Tools) or tool specs to offer (ToolSpec), not both in one call"
        )
    toolset = ToolSet(items)  # type: ignore[arg-type]  # no ToolSpec left, checked above
    return toolset, toolset.specs()
