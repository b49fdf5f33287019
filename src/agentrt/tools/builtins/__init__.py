"""The built-in toolkits: ``datetime``, ``calculator`` and ``http_get``.

Each is built by :func:`builtin_source` from its toolkit section; the module of
a built-in is imported only when a toolkit uses it (``http_get`` needs aiohttp).
"""

from __future__ import annotations

from typing import cast

from agentrt.config._tools import CalculatorOptions, DatetimeOptions, HttpGetOptions, ToolkitSection
from agentrt.tools._function_source import FunctionSource

__all__ = ["builtin_source"]


def builtin_source(toolkit: str, section: ToolkitSection) -> FunctionSource:
    """The source of a ``builtin:`` toolkit (not started)."""
    kind = section.builtin
    options = section.builtin_options()
    if kind == "calculator":
        from agentrt.tools.builtins.calculator import calculator_tools

        tools = calculator_tools(cast(CalculatorOptions, options))
        return FunctionSource(toolkit, tools, kind="builtin", origin="builtin calculator")
    if kind == "datetime":
        from agentrt.tools.builtins.datetime_tools import datetime_tools

        tools = datetime_tools(cast(DatetimeOptions, options))
        return FunctionSource(toolkit, tools, kind="builtin", origin="builtin datetime")
    if kind == "http_get":
        from agentrt.tools.builtins.http_get import http_get_tools

        tools, client = http_get_tools(cast(HttpGetOptions, options))
        return FunctionSource(toolkit, tools, kind="builtin", origin="builtin http_get", on_close=client.close)
    raise ValueError(f"toolkit {toolkit!r} is not a built-in one (builtin: {kind!r})")
