"""A toolkit of in-process :class:`Tool` objects as a :class:`ToolSource`: Python modules and built-ins.

Their list never changes while they run (a reload builds a new source), so
``subscribe`` keeps no callbacks; ``start`` and ``close`` only mark the state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from agentrt.errors import RuntimeStateError, ToolError
from agentrt.tools._source import SourceState, SourceStatus, ToolInfo, ToolOutput
from agentrt.tools._tool import Tool

__all__ = ["FunctionSource"]


class FunctionSource:
    """The tools of one toolkit, run on this event loop (a sync function in a worker thread).

    ``kind`` is what :attr:`ToolInfo.source` says: ``python`` or ``builtin``;
    ``origin`` says where the tools came from, for status and errors;
    ``on_close`` releases what the tools hold (``http_get``'s HTTP session).
    """

    __slots__ = ("_infos", "_kind", "_on_close", "_origin", "_state", "_toolkit", "_tools")

    def __init__(
        self,
        toolkit: str,
        tools: Iterable[Tool[..., Any]],
        *,
        kind: str,
        origin: str,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        by_name: dict[str, Tool[..., Any]] = {}
        for item in tools:
            if item.name in by_name:
                raise ToolError(
                    f"toolkit {toolkit!r} ({origin}) has two tools named {item.name!r}: rename one with @tool(name=...)"
                )
            # The registry runs a tool with the model's arguments alone: nothing can fill an excluded parameter.
            needed = item._arguments.injected_required
            if needed:
                raise ToolError(
                    f"toolkit {toolkit!r} ({origin}): tool {item.name!r} excludes {', '.join(sorted(needed))} from "
                    "the model's arguments, and a configured toolkit has no caller to supply them: give them defaults"
                )
            by_name[item.name] = item
        self._toolkit = toolkit
        self._tools = by_name
        self._kind = kind
        self._origin = origin
        self._infos = tuple(ToolInfo(toolkit, t.name, t.description, t.parameters, kind) for t in by_name.values())
        self._state: SourceState = "starting"
        self._on_close = on_close

    @property
    def toolkit(self) -> str:
        return self._toolkit

    def tools(self) -> Sequence[ToolInfo]:
        return self._infos

    async def call(self, tool: str, arguments: Mapping[str, Any], *, timeout: float | None = None) -> ToolOutput:
        if self._state == "stopped":
            raise RuntimeStateError(f"toolkit {self._toolkit!r} is closed: it was removed or the runtime stopped")
        found = self._tools.get(tool)
        if found is None:
            known = ", ".join(self._tools) or "none"
            raise ToolError(f"toolkit {self._toolkit!r} has no tool {tool!r}: its tools are {known}")
        if timeout is None:
            return ToolOutput(await found.invoke(arguments))
        # A sync tool runs in a thread, which a timeout cannot stop: the caller stops waiting for it.
        async with asyncio.timeout(timeout):
            return ToolOutput(await found.invoke(arguments))

    def status(self) -> SourceStatus:
        return SourceStatus(self._state, self._origin, extra={"tools": len(self._infos)})

    def subscribe(self, on_change: Callable[[], None]) -> None:
        """Nothing to report: the list of an in-process toolkit is fixed until it is rebuilt."""

    async def start(self) -> None:
        if self._state == "stopped":
            raise RuntimeStateError(f"toolkit {self._toolkit!r} was closed: build a new source to start again")
        self._state = "ready"

    async def close(self) -> None:
        if self._state == "stopped":
            return
        self._state = "stopped"
        if self._on_close is not None:
            await self._on_close()

    def __repr__(self) -> str:
        return f"FunctionSource({self._toolkit!r}, {self._origin!r}, {self._state})"
