"""The JSON Schema a tool offers a model: types, defaults, required, descriptions, names."""

# No `from __future__ import annotations` here: some tools below are declared inside
# test functions, where postponed annotations could not be resolved.

import enum
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, Field

from agentrt.tools import Tool, tool
from agentrt.types import ToolSpec


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    street: str
    title: str = "Mx"  # a property called "title" must survive the removal of pydantic's titles


def _walk(node: Any, path: str = "") -> list[str]:
    """Every path in the schema where a "title" keyword (not a property named title) appears."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                found.append(path)
            if key == "properties":
                for name, sub in value.items():
                    found.extend(_walk(sub, f"{path}.properties.{name}"))
            else:
                found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_walk(item, f"{path}[{index}]"))
    return found


def test_scalar_types_and_required_parameters() -> None:
    @tool
    def f(text: str, count: int, ratio: float, flag: bool) -> None:
        pass

    assert f.parameters == {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean"},
        },
        "required": ["text", "count", "ratio", "flag"],
        "additionalProperties": False,
    }


def test_parameters_with_defaults_are_optional_and_show_their_default() -> None:
    @tool
    def f(city: str, days: int = 3, note: str | None = None) -> None:
        pass

    schema = f.parameters
    assert schema["required"] == ["city"]
    assert schema["properties"]["days"] == {"type": "integer", "default": 3}
    assert schema["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}


def test_containers() -> None:
    @tool
    def f(tags: list[str], scores: dict[str, float], maybe: Optional[list[int]]) -> None:  # noqa: UP045
        pass

    properties = f.parameters["properties"]
    assert properties["tags"] == {"type": "array", "items": {"type": "string"}}
    assert properties["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert properties["maybe"] == {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]}
    assert f.parameters["required"] == ["tags", "scores", "maybe"]


def test_literal_and_enum() -> None:
    @tool
    def f(mode: Literal["fast", "slow"], unit: Unit = Unit.CELSIUS) -> None:
        pass

    schema = f.parameters
    assert schema["properties"]["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert schema["properties"]["unit"] == {"$ref": "#/$defs/Unit", "default": "celsius"}
    assert schema["$defs"]["Unit"] == {"type": "string", "enum": ["celsius", "fahrenheit"]}


def test_pydantic_model_parameter() -> None:
    @tool
    def f(address: Address) -> None:
        pass

    schema = f.parameters
    assert schema["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert schema["$defs"]["Address"] == {
        "type": "object",
        "properties": {"street": {"type": "string"}, "title": {"type": "string", "default": "Mx"}},
        "required": ["street"],
    }


def test_no_title_noise_anywhere() -> None:
    @tool
    def f(address: Address, unit: Unit, tags: list[str], title: str = "x") -> None:
        pass

    assert _walk(f.parameters) == []
    assert "title" in f.parameters["properties"]  # the parameter called "title" is still there


def test_a_function_without_parameters_has_an_empty_object_schema() -> None:
    @tool
    def now() -> str:
        return "noon"

    assert now.parameters == {"type": "object", "properties": {}, "additionalProperties": False}


def test_parameters_named_like_pydantic_internals_are_fine() -> None:
    @tool
    def f(json: str, schema: int, model_config: bool, copy: float) -> None:
        pass

    assert list(f.parameters["properties"]) == ["json", "schema", "model_config", "copy"]


# --- descriptions and names -----------------------------------------------------------


@tool
def google_style(city: str, days: int = 1) -> str:
    """The forecast for a city.

    Uses the national weather service.

    Args:
        city: The city, e.g. "Paris".
        days (int): How many days ahead,
            counting today.

    Returns:
        The forecast as text.
    """
    return city


@tool
def sphinx_style(city: str, days: int = 1) -> str:
    """The forecast for a city.

    :param city: The city, e.g. "Paris".
    :param int days: How many days ahead,
        counting today.
    :returns: The forecast as text.
    """
    return city


def test_google_style_docstring() -> None:
    assert google_style.description == "The forecast for a city.\n\nUses the national weather service."
    properties = google_style.parameters["properties"]
    assert properties["city"]["description"] == 'The city, e.g. "Paris".'
    assert properties["days"]["description"] == "How many days ahead, counting today."


def test_sphinx_style_docstring() -> None:
    assert sphinx_style.description == "The forecast for a city."
    properties = sphinx_style.parameters["properties"]
    assert properties["city"]["description"] == 'The city, e.g. "Paris".'
    assert properties["days"]["description"] == "How many days ahead, counting today."


def test_a_docstring_without_sections_is_all_description() -> None:
    @tool
    def f(x: int) -> None:
        """Do it.

        Carefully.
        """

    assert f.description == "Do it.\n\nCarefully."
    assert "description" not in f.parameters["properties"]["x"]


def test_no_docstring_means_an_empty_description() -> None:
    @tool
    def f(x: int) -> None:
        pass

    assert f.description == ""


def test_annotated_field_description_wins_over_the_docstring() -> None:
    @tool
    def f(x: Annotated[int, Field(description="from the annotation", ge=0)], y: int) -> None:
        """Do it.

        Args:
            x: from the docstring
            y: the other one
        """

    properties = f.parameters["properties"]
    assert properties["x"] == {"type": "integer", "minimum": 0, "description": "from the annotation"}
    assert properties["y"]["description"] == "the other one"


def test_name_and_description_can_be_given() -> None:
    @tool(name="weather", description="Ask the sky.")
    def get_weather_v2(city: str) -> str:
        """Ignored as a description."""
        return city

    assert (get_weather_v2.name, get_weather_v2.description) == ("weather", "Ask the sky.")


def test_spec_is_the_toolspec_of_the_tool() -> None:
    assert google_style.spec == ToolSpec("google_style", google_style.description, google_style.parameters)
    assert google_style.spec is google_style.spec


def test_from_function_makes_a_tool_of_an_undecorated_function() -> None:
    def lookup(order_id: int) -> str:
        """Find an order."""
        return str(order_id)

    made = Tool.from_function(lookup)

    assert (made.name, made.description) == ("lookup", "Find an order.")
    assert made.parameters["required"] == ["order_id"]


def test_excluded_parameters_are_not_in_the_schema() -> None:
    class Context:  # not a type pydantic could describe: excluded parameters need none
        pass

    def answer(ctx: Context, question: str, db=None) -> str:  # type: ignore[no-untyped-def]
        return question

    made = Tool.from_function(answer, exclude=("ctx", "db"))

    assert list(made.parameters["properties"]) == ["question"]
    assert made.parameters["required"] == ["question"]


def test_a_decorated_tool_is_still_the_function() -> None:
    assert google_style("Oslo") == "Oslo"
