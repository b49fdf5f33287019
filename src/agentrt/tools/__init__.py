"""Tools: Python functions a model can call.

::

    @tool
    def get_weather(city: str, days: int = 1) -> dict[str, float]:
        \"\"\"The forecast for a city.

        Args:
            city: The city, e.g. "Paris".
            days: How many days ahead.
        \"\"\"

    tools = ToolSet([get_weather, lookup_order])     # Tools or plain functions
    request.tools = tools.specs()                    # ToolSpec: name, description, JSON Schema
    text = await tools.invoke(call.name, call.arguments)   # validated, run, rendered as text

Modules: ``_tool`` (:class:`Tool`, :func:`tool`, :func:`render_result`),
``_arguments`` (the schema and validation of a function's parameters),
``_docstrings`` (Google and Sphinx parameter descriptions), ``_toolset``
(:class:`ToolSet`).

The tool registry (``registry``: :class:`ToolRegistry`, the toolkits of the
``tools`` section) and the contract of its sources (``_source``:
:class:`ToolSource`, :class:`ToolInfo`, :class:`ToolOutput`,
:class:`SourceStatus`) are exported lazily: ``import agentrt.tools`` stays cheap.
So are governance's names: :class:`ToolsHandle` (``rt.tools``: governed calls and
approvals), :class:`ApprovalRequest` and :class:`ApprovalEvent` (a parked call and
what subscribers see), :class:`UnknownApproval`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentrt._lazy import lazy_exports
from agentrt.tools._tool import Tool, render_result, tool
from agentrt.tools._toolset import ToolSet

if TYPE_CHECKING:
    from agentrt.tools._approvals import ApprovalEvent, ApprovalRequest, UnknownApproval
    from agentrt.tools._handle import ToolsHandle
    from agentrt.tools._source import SourceStatus, ToolInfo, ToolOutput, ToolSource
    from agentrt.tools.registry import ToolRegistry

__all__ = [
    "ApprovalEvent",
    "ApprovalRequest",
    "SourceStatus",
    "Tool",
    "ToolInfo",
    "ToolOutput",
    "ToolRegistry",
    "ToolSet",
    "ToolSource",
    "ToolsHandle",
    "UnknownApproval",
    "render_result",
    "tool",
]

_EXPORTS = {
    "SourceStatus": "agentrt.tools._source",
    "ToolInfo": "agentrt.tools._source",
    "ToolOutput": "agentrt.tools._source",
    "ToolSource": "agentrt.tools._source",
    "ToolRegistry": "agentrt.tools.registry",
    "ApprovalEvent": "agentrt.tools._approvals",
    "ApprovalRequest": "agentrt.tools._approvals",
    "UnknownApproval": "agentrt.tools._approvals",
    "ToolsHandle": "agentrt.tools._handle",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), __all__)
