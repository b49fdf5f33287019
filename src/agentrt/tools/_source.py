"""Where a toolkit's tools come from: the :class:`ToolSource` protocol every source implements.

A toolkit (one entry of the ``tools`` section) is served by one source: a
Python module of ``@tool`` functions, a built-in, or an MCP server. The
registry (``agentrt.tools.registry``) names each tool ``toolkit.tool``, picks
tools by name or glob, and calls them through their source; governance
(policy, approvals, audit, metrics, spans) wraps that call and never lives in
a source. A source only lists and runs its tools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agentrt.types import ImagePart

__all__ = ["SourceState", "SourceStatus", "ToolInfo", "ToolOutput", "ToolSource"]

SourceState = Literal["starting", "ready", "restarting", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """One tool as its source declares it: the name inside its toolkit, description, JSON Schema."""

    toolkit: str
    name: str
    description: str
    parameters: Mapping[str, Any]
    source: str
    """The kind of source: ``python``, ``builtin`` or ``mcp``."""

    @property
    def full_name(self) -> str:
        """``toolkit.tool``: the name configs, policies, audit rows and the CLI use."""
        return f"{self.toolkit}.{self.name}"


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool returned: text for the model, and images and structured content where it gave them.

    ``is_error`` is a tool's own report of failure (an MCP ``isError`` result):
    the model is told, as with an exception in a Python tool.
    """

    text: str
    images: tuple[ImagePart, ...] = ()
    structured: Mapping[str, Any] | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """A source's health, for ``agentrt services``, ``/readyz`` and the dashboard."""

    state: SourceState
    detail: str = ""
    restarts: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ToolSource(Protocol):
    """A toolkit's tools: listed, called, started and closed.

    ``tools()`` is the current list and may change while running (an MCP
    server's ``notifications/tools/list_changed``); ``on_change`` callbacks
    added with :meth:`subscribe` run after each change. ``call`` raises
    :class:`~agentrt.errors.ToolError` for an unknown tool,
    :class:`~agentrt.errors.ToolArgumentsError` for arguments that do not
    validate, and ``TimeoutError`` when ``timeout`` (seconds) passes; it is
    cancellable, and a cancellation reaches the tool (MCP: a
    ``notifications/cancelled``).
    """

    @property
    def toolkit(self) -> str: ...

    def tools(self) -> Sequence[ToolInfo]: ...

    async def call(self, tool: str, arguments: Mapping[str, Any], *, timeout: float | None = None) -> ToolOutput: ...

    def status(self) -> SourceStatus: ...

    def subscribe(self, on_change: Callable[[], None]) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
