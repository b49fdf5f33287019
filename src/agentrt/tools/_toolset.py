"""Several tools by name: :class:`ToolSet`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from agentrt.errors import ToolError
from agentrt.tools._tool import Tool
from agentrt.types import ToolSpec

__all__ = ["ToolSet"]


class ToolSet:
    """The tools of a request or an agent, by name.

    Built from :class:`Tool` objects and plain functions (made tools with
    :meth:`Tool.from_function`); two tools with the same name are a
    :class:`ToolError`. ``get`` (and ``[]``) raise :class:`ToolError` naming the
    known tools: a model that calls a tool that does not exist is told which do.
    Iterating gives the names, as a mapping does; the set does not change.
    """

    __slots__ = ("_specs", "_tools")

    def __init__(self, tools: Iterable[Tool[..., Any] | Callable[..., Any]] = ()) -> None:
        by_name: dict[str, Tool[..., Any]] = {}
        for item in tools:
            made = item if isinstance(item, Tool) else Tool.from_function(item)
            other = by_name.get(made.name)
            if other is not None:
                raise ToolError(
                    f"two tools are named {made.name!r} ({_origin(other)} and {_origin(made)}): "
                    "rename one, e.g. with @tool(name=...)"
                )
            by_name[made.name] = made
        self._tools: Mapping[str, Tool[..., Any]] = by_name
        self._specs = tuple(t.spec for t in by_name.values())

    def get(self, name: str) -> Tool[..., Any]:
        """The tool called ``name``; :class:`ToolError` listing the known tools when there is none."""
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(self._tools) or "none"
            raise ToolError(f"there is no tool named {name!r}: the tools available are {known}")
        return found

    __getitem__ = get

    def specs(self) -> list[ToolSpec]:
        """The tools as a request offers them to a model, in the order given."""
        return list(self._specs)

    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    async def invoke(
        self, name: str, arguments: Mapping[str, Any], *, injected: Mapping[str, Any] | None = None
    ) -> str:
        """``get(name).invoke(arguments, injected=injected)``."""
        return await self.get(name).invoke(arguments, injected=injected)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolSet({', '.join(self._tools)})"


def _origin(t: Tool[..., Any]) -> str:
    module = getattr(t.fn, "__module__", None)
    qualname = getattr(t.fn, "__qualname__", repr(t.fn))
    return f"{module}.{qualname}" if module else qualname
