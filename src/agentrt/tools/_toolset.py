"""Several tools by name: :class:`ToolSet`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

from agentrt.errors import ToolError
from agentrt.tools._source import ToolInfo, ToolOutput
from agentrt.tools._tool import Tool
from agentrt.tools._wire import wire_names
from agentrt.types import ToolSpec

__all__ = ["RegistryCaller", "ToolSet"]

RegistryCaller: TypeAlias = Callable[[str, Mapping[str, Any]], Awaitable[ToolOutput]]
"""Runs a registry tool by its full name (``toolkit.tool``) with the model's arguments."""


class ToolSet:
    """The tools of a request or an agent, by name.

    Built from :class:`Tool` objects and plain functions (made tools with
    :meth:`Tool.from_function`); two tools with the same name are a
    :class:`ToolError`. ``get`` (and ``[]``) raise :class:`ToolError` naming the
    known tools: a model that calls a tool that does not exist is told which do.
    Iterating gives the names, as a mapping does; the set does not change.

    A set may also hold tools of the registry (:meth:`with_registry_tools`):
    those are offered under a wire name providers accept (``github__search``
    for ``github.search``), :meth:`info` gives their :class:`ToolInfo`, and
    :meth:`invoke` runs them through the caller the set was given.
    """

    __slots__ = ("_caller", "_remote", "_specs", "_tools")

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
        self._remote: Mapping[str, ToolInfo] = {}
        self._caller: RegistryCaller | None = None

    @classmethod
    def with_registry_tools(
        cls,
        tools: Iterable[Tool[..., Any] | Callable[..., Any]],
        registry_tools: Sequence[ToolInfo],
        caller: RegistryCaller,
    ) -> ToolSet:
        """A set of ``tools`` (run here) and ``registry_tools`` (run by ``caller(full_name, arguments)``).

        Each registry tool gets a wire name (:func:`~agentrt.tools._wire.wire_names`) that no Python tool
        of the set has; the mapping is the same for every step of the call.
        """
        made = cls(tools)
        names = wire_names((info.full_name for info in registry_tools), taken=made._tools)
        remote = {names[info.full_name]: info for info in registry_tools}
        made._remote = remote
        made._caller = caller
        made._specs = made._specs + tuple(
            ToolSpec(wire, info.description, dict(info.parameters)) for wire, info in remote.items()
        )
        return made

    def get(self, name: str) -> Tool[..., Any]:
        """The Python tool called ``name``; :class:`ToolError` listing the known tools when there is none
        (a registry tool has no :class:`Tool` here: see :meth:`info`)."""
        found = self._tools.get(name)
        if found is None:
            if name in self._remote:
                raise ToolError(f"{name!r} is the registry tool {self._remote[name].full_name!r}: it has no Tool here")
            raise ToolError(f"there is no tool named {name!r}: the tools available are {self._known()}")
        return found

    def info(self, name: str) -> ToolInfo | None:
        """The registry tool offered as ``name`` (its full name, toolkit, source); None for a Python tool."""
        return self._remote.get(name)

    def full_name(self, name: str) -> str:
        """What policies, audit rows and logs call the tool offered as ``name``: ``toolkit.tool`` for a
        registry tool, the name itself for a Python tool."""
        info = self._remote.get(name)
        return info.full_name if info is not None else name

    def _known(self) -> str:
        return ", ".join([*self._tools, *self._remote]) or "none"

    __getitem__ = get

    def specs(self) -> list[ToolSpec]:
        """The tools as a request offers them to a model, in the order given."""
        return list(self._specs)

    def names(self) -> tuple[str, ...]:
        """The names the model sees: Python tools', then registry tools' wire names."""
        return (*self._tools, *self._remote)

    async def invoke(
        self, name: str, arguments: Mapping[str, Any], *, injected: Mapping[str, Any] | None = None
    ) -> str:
        """Run the tool offered as ``name`` and return its answer as text for the model.

        A Python tool: ``get(name).invoke(arguments, injected=injected)``. A registry tool: its caller's
        :class:`ToolOutput` as text, prefixed ``error:`` when the tool reported a failure itself.
        """
        info = self._remote.get(name)
        if info is None:
            return await self.get(name).invoke(arguments, injected=injected)
        output = await self.call(name, arguments)
        return f"error: {output.text}" if output.is_error else output.text

    async def call(self, name: str, arguments: Mapping[str, Any]) -> ToolOutput:
        """Like :meth:`invoke`, the whole :class:`ToolOutput` (images, structured content) of either kind."""
        info = self._remote.get(name)
        if info is None:
            return ToolOutput(await self.get(name).invoke(arguments))
        assert self._caller is not None  # set with every registry tool
        return await self._caller(info.full_name, arguments)

    def __contains__(self, name: object) -> bool:
        return name in self._tools or name in self._remote

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._tools) + len(self._remote)

    def __repr__(self) -> str:
        return f"ToolSet({', '.join(self.names())})"


def _origin(t: Tool[..., Any]) -> str:
    module = getattr(t.fn, "__module__", None)
    qualname = getattr(t.fn, "__qualname__", repr(t.fn))
    return f"{module}.{qualname}" if module else qualname
