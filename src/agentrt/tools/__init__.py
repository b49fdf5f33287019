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
"""

from agentrt.tools._tool import Tool, render_result, tool
from agentrt.tools._toolset import ToolSet

__all__ = ["Tool", "ToolSet", "render_result", "tool"]
