"""Functions that cannot be tools are refused when they are declared, naming what is wrong."""

from collections.abc import Callable
from typing import Any

import pytest

from agentrt.errors import ToolError
from agentrt.tools import Tool, tool


class Opaque:
    """A class pydantic knows nothing about."""


def test_star_args_are_refused() -> None:
    def f(city: str, *args: str) -> None:
        pass

    with pytest.raises(ToolError, match=r"function .*f: parameter \*args takes any arguments"):
        tool(f)


def test_star_star_kwargs_are_refused() -> None:
    def f(city: str, **options: Any) -> None:
        pass

    with pytest.raises(ToolError, match=r"function .*f: parameter \*\*options"):
        tool(f)


def test_a_parameter_without_a_type_hint_is_refused() -> None:
    def f(city: str, days) -> None:  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(ToolError) as caught:
        tool(f)

    message = str(caught.value)
    assert "test_a_parameter_without_a_type_hint_is_refused.<locals>.f" in message
    assert "parameter 'days' has no type hint" in message


@pytest.mark.parametrize(
    ("annotation", "shown"),
    [(Opaque, "Opaque"), (Callable[[int], int], "Callable"), (list[Opaque], "Opaque")],
)
def test_a_type_without_a_json_schema_is_refused(annotation: Any, shown: str) -> None:
    def f(city: str, thing: int) -> None:
        pass

    f.__annotations__["thing"] = annotation

    with pytest.raises(ToolError) as caught:
        tool(f)

    message = str(caught.value)
    assert "parameter 'thing' has type" in message
    assert shown in message
    assert "no JSON Schema" in message


def test_an_unresolvable_annotation_is_refused() -> None:
    def f(city: "NoSuchType") -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(ToolError, match=r"type hints cannot be resolved.*NoSuchType"):
        tool(f)


def test_a_lambda_needs_a_name() -> None:
    with pytest.raises(ToolError, match=r"tool named '<lambda>'.*name="):
        Tool.from_function(lambda x: x)


@pytest.mark.parametrize("name", ["", "has space", "x" * 65, "dotted.name"])
def test_a_name_providers_refuse_is_refused(name: str) -> None:
    def f() -> None:
        pass

    with pytest.raises(ToolError, match="1 to 64 letters, digits"):
        tool(name=name)(f)


def test_excluding_a_parameter_that_does_not_exist_is_refused() -> None:
    def f(city: str) -> None:
        pass

    with pytest.raises(ToolError, match="exclude names ctx, which is not a parameter"):
        Tool.from_function(f, exclude=("ctx",))


def test_an_excluded_star_parameter_is_still_refused() -> None:
    def f(city: str, **options: Any) -> None:
        pass

    with pytest.raises(ToolError, match=r"\*\*options"):
        Tool.from_function(f, exclude=("options",))


def test_an_excluded_parameter_may_have_an_unresolvable_annotation() -> None:
    # As a context type imported only under TYPE_CHECKING would be.
    def f(ctx: "OnlyForTypeCheckers", city: str) -> "AlsoUnknown":  # type: ignore[name-defined]  # noqa: F821
        return city  # type: ignore[return-value]

    made = Tool.from_function(f, exclude=("ctx",))

    assert list(made.parameters["properties"]) == ["city"]
