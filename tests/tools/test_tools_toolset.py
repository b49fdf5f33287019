"""ToolSet: tools by name, duplicates refused, unknown names answered with the known ones."""

import pytest

from agentrt.errors import ToolError
from agentrt.tools import Tool, ToolSet, tool


@tool
def get_weather(city: str) -> str:
    """The forecast for a city."""
    return f"sunny in {city}"


def lookup_order(order_id: int) -> dict[str, int]:
    """Find an order."""
    return {"order": order_id}


def test_built_from_tools_and_plain_functions() -> None:
    tools = ToolSet([get_weather, lookup_order])

    assert tools.names() == ("get_weather", "lookup_order")
    assert isinstance(tools.get("lookup_order"), Tool)
    assert tools["get_weather"] is get_weather
    assert len(tools) == 2
    assert "get_weather" in tools
    assert "nothing" not in tools
    assert list(tools) == ["get_weather", "lookup_order"]


def test_specs_in_the_order_given() -> None:
    specs = ToolSet([lookup_order, get_weather]).specs()

    assert [spec.name for spec in specs] == ["lookup_order", "get_weather"]
    assert specs[1] == get_weather.spec


def test_duplicate_names_are_refused_naming_both() -> None:
    @tool(name="get_weather")
    def other(city: str) -> str:
        return city

    with pytest.raises(ToolError) as caught:
        ToolSet([get_weather, other])

    message = str(caught.value)
    assert "two tools are named 'get_weather'" in message
    assert "test_tools_toolset.get_weather" in message
    assert "other" in message


def test_an_unknown_tool_lists_the_known_ones() -> None:
    tools = ToolSet([get_weather, lookup_order])

    with pytest.raises(
        ToolError, match="no tool named 'get_wether': the tools available are get_weather, lookup_order"
    ):
        tools.get("get_wether")
    with pytest.raises(ToolError, match="no tool named"):
        tools["get_wether"]


def test_an_empty_set() -> None:
    tools = ToolSet()

    assert (len(tools), tools.specs()) == (0, [])
    with pytest.raises(ToolError, match="the tools available are none"):
        tools.get("x")


async def test_invoke_by_name() -> None:
    tools = ToolSet([get_weather, lookup_order])

    assert await tools.invoke("lookup_order", {"order_id": "12"}) == '{"order":12}'
    assert await tools.invoke("get_weather", {"city": "Oslo"}) == "sunny in Oslo"
