"""Which tools a call offers the model, and which of them agentrt runs.

``tools=`` takes Python tools (functions or :class:`~agentrt.tools.Tool`), tool
specs to offer only (:class:`~agentrt.types.ToolSpec`), or names of the tool
registry (``"calc.evaluate"``, globs such as ``"github.search_*"``), which may
be mixed with Python tools. Registry tools are offered under wire names and run
by the registry (see :meth:`agentrt.tools.ToolSet.with_registry_tools`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from agentrt.errors import ToolError
from agentrt.types import ToolSpec

if TYPE_CHECKING:
    from agentrt.tools import Tool, ToolSet
    from agentrt.tools.registry import ToolRegistry

__all__ = ["ToolsArg", "resolve_tools"]

ToolsArg: TypeAlias = "ToolSet | str | Sequence[Tool[..., Any] | Callable[..., Any] | ToolSpec | str] | None"


def resolve_tools(tools: ToolsArg, registry: ToolRegistry | None = None) -> tuple[ToolSet | None, list[ToolSpec]]:
    """The runnable tools (None when only specs were given) and the specs to offer the model.

    Strings are names or globs of ``registry``'s tools; one that matches nothing is a
    :class:`ToolError` naming the tools there are.
    """
    if tools is None:
        return None, []
    from agentrt.tools import ToolSet

    if isinstance(tools, ToolSet):
        return tools, tools.specs()
    items = [tools] if isinstance(tools, str) else list(tools)
    specs = [item for item in items if isinstance(item, ToolSpec)]
    if len(specs) == len(items):
        return None, specs
    if specs:
        raise ToolError(
            "pass either tools to run (functions, Tools or registry names) or tool specs to offer (ToolSpec), "
            "not both in one call"
        )
    patterns = [item for item in items if isinstance(item, str)]
    local = [item for item in items if not isinstance(item, str)]
    if not patterns:
        toolset = ToolSet(local)  # type: ignore[arg-type]  # no ToolSpec left, checked above
        return toolset, toolset.specs()
    if registry is None:
        raise ToolError(
            f"tools names {', '.join(repr(p) for p in patterns)}, tools of the registry, and this call has none: "
            "declare toolkits under tools: in the configuration and call through the runtime (rt.generate)"
        )
    if not local:
        toolset = registry.toolset(patterns)  # kept by the registry: the same tools again cost a lookup
        return toolset, toolset.specs()
    toolset = ToolSet.with_registry_tools(local, registry.select(patterns), registry.call)  # type: ignore[arg-type]
    return toolset, toolset.specs()
