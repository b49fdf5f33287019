"""A Python function a model can call: :class:`Tool` and the :func:`tool` decorator."""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

import orjson
from pydantic_core import to_jsonable_python

from agentrt.errors import ToolError
from agentrt.tools._arguments import ArgumentModel, build_arguments
from agentrt.tools._docstrings import parse_docstring
from agentrt.types import ToolSpec

__all__ = ["Tool", "render_result", "tool"]

P = ParamSpec("P")
R = TypeVar("R")

# What OpenAI and Anthropic accept as a tool name (Gemini accepts a superset).
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Tool(Generic[P, R]):
    """A function with the JSON Schema of its parameters, ready to be offered to a model and called by it.

    Build one with :func:`tool` or :meth:`Tool.from_function`. ``name`` is the
    function's name unless given; ``description`` the docstring's text before its
    sections (``Args:``, ``Returns:``, ``:param:`` ...) unless given;
    ``parameters`` the JSON Schema of the arguments, with each parameter's
    description taken from the docstring (Google ``Args:`` or Sphinx
    ``:param x:``). The tool stays callable as the plain function it wraps.
    """

    __slots__ = ("_arguments", "_is_async", "_spec", "description", "fn", "name")

    fn: Callable[P, R]
    name: str
    description: str

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        exclude: Iterable[str] = (),
    ) -> None:
        """Prefer :meth:`from_function` or :func:`tool`; the arguments are the same."""
        tool_name = name if name is not None else getattr(fn, "__name__", "")
        if not _TOOL_NAME.match(tool_name):
            raise ToolError(
                f"cannot make a tool named {tool_name!r}: a tool name is 1 to 64 letters, digits, _ or - "
                "(what providers accept): give one with name=..."
            )
        docs = parse_docstring(_docstring(fn))
        self.fn = fn
        self.name = tool_name
        self.description = description if description is not None else docs.description
        self._arguments: ArgumentModel = build_arguments(
            fn, tool=tool_name, descriptions=docs.parameters, exclude=exclude
        )
        self._is_async = inspect.iscoroutinefunction(fn)
        self._spec = ToolSpec(self.name, self.description, self._arguments.schema)

    @classmethod
    def from_function(
        cls,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        exclude: Iterable[str] = (),
    ) -> Tool[P, R]:
        """A tool of ``fn``, sync or async, decorated or not.

        ``exclude`` names parameters the model does not see or fill (a context,
        a database handle): :meth:`invoke` takes them in ``injected``. They need
        no type hint. A ``*args``/``**kwargs`` parameter, a parameter without a
        type hint, or a type with no JSON Schema is a :class:`ToolError` here,
        naming the function and the parameter.
        """
        return cls(fn, name=name, description=description, exclude=exclude)

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (an object; ``additionalProperties`` is false). Do not mutate."""
        return self._arguments.schema

    @property
    def spec(self) -> ToolSpec:
        """The tool as a request offers it to a model (built once)."""
        return self._spec

    @property
    def is_async(self) -> bool:
        return self._is_async

    async def invoke(self, arguments: Mapping[str, Any], *, injected: Mapping[str, Any] | None = None) -> str:
        """Call the tool with a model's ``arguments`` and return the result as text for the model.

        The arguments are validated and coerced against the signature first;
        a mismatch is a :class:`ToolArgumentsError` listing every problem, and the
        function is not called. ``injected`` supplies the excluded parameters.
        An async function runs on the loop; a sync one in a worker thread
        (``asyncio.to_thread``), so it never blocks the loop; cancelling the
        caller does not stop that thread. An exception of the function itself
        propagates unchanged: the caller decides what the model is told.
        """
        args, kwargs = self._arguments.bind(arguments, injected)
        if self._is_async:
            result: Any = await self.fn(*args, **kwargs)  # type: ignore[misc]
        else:
            result = await asyncio.to_thread(self.fn, *args, **kwargs)
            if inspect.isawaitable(result):  # a sync wrapper around an async function
                result = await result
        return render_result(result, tool=self.name)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the wrapped function directly, as if it were not a tool."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def _docstring(fn: Callable[..., Any]) -> str | None:
    # A partial's own docstring describes functools.partial, not the function it wraps.
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.getdoc(fn)


def render_result(value: object, *, tool: str = "tool") -> str:
    """A tool's return value as text for the model: a ``str`` as it is, anything else as JSON.

    Pydantic models, dataclasses, enums, dates, sets and the like are turned into
    JSON through pydantic's ``to_jsonable_python``; ``None`` becomes ``null``.
    """
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, default=to_jsonable_python, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, ValueError) as err:  # orjson.JSONEncodeError is a TypeError
        raise ToolError(
            f"tool {tool!r} returned a value of type {type(value).__name__} that cannot be turned into "
            f"text for the model ({err}): return a str, or a value JSON can hold (dict, list, number, "
            "bool, None, a dataclass or a pydantic model)"
        ) from None


@overload
def tool(fn: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    exclude: Iterable[str] = (),
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    exclude: Iterable[str] = (),
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Make a function a :class:`Tool`: ``@tool`` or ``@tool(name=..., description=..., exclude=...)``.

    ::

        @tool
        async def get_weather(city: str, days: int = 1) -> dict[str, float]:
            \"\"\"The forecast for a city.

            Args:
                city: The city, e.g. "Paris".
                days: How many days ahead.
            \"\"\"

    Every problem with the declaration is a :class:`ToolError` at decoration.
    """
    if fn is not None:
        return Tool.from_function(fn, name=name, description=description, exclude=exclude)
    excluded = tuple(exclude)

    def decorate(f: Callable[P, R]) -> Tool[P, R]:
        return Tool.from_function(f, name=name, description=description, exclude=excluded)

    return decorate
