"""Calling tools: validation and coercion, threads for sync functions, results as text."""

import asyncio
import dataclasses
import datetime
import enum
import threading
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from agentrt.errors import ToolArgumentsError, ToolError
from agentrt.tools import Tool, render_result, tool


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    street: str
    number: int


@dataclasses.dataclass
class Forecast:
    city: str
    high: float


async def test_a_sync_tool_runs_in_a_worker_thread() -> None:
    seen: list[int] = []

    @tool
    def where() -> str:
        seen.append(threading.get_ident())
        return "done"

    assert await where.invoke({}) == "done"
    assert seen
    assert seen[0] != threading.get_ident()  # the test body runs on the loop's thread


async def test_a_sync_tool_does_not_block_the_loop() -> None:
    release = threading.Event()

    @tool
    def wait_for_release() -> str:
        # Blocks until the loop sets the event: if the tool ran on the loop, nothing could set it.
        return "released" if release.wait(timeout=10) else "timed out"

    call = asyncio.create_task(wait_for_release.invoke({}))
    await asyncio.sleep(0)
    release.set()

    assert await call == "released"


async def test_an_async_tool_runs_on_the_loop() -> None:
    seen: list[int] = []

    @tool
    async def where() -> str:
        seen.append(threading.get_ident())
        await asyncio.sleep(0)
        return "done"

    assert await where.invoke({}) == "done"
    assert seen == [threading.get_ident()]


async def test_arguments_are_coerced_to_the_declared_types() -> None:
    received: dict[str, Any] = {}

    @tool
    def f(count: int, ratio: float, flag: bool, unit: Unit, address: Address, tags: list[int]) -> str:
        received.update(count=count, ratio=ratio, flag=flag, unit=unit, address=address, tags=tags)
        return "ok"

    await f.invoke(
        {
            "count": "3",
            "ratio": 2,
            "flag": "true",
            "unit": "fahrenheit",
            "address": {"street": "Main", "number": "7"},
            "tags": ["1", 2],
        }
    )

    assert received == {
        "count": 3,
        "ratio": 2.0,
        "flag": True,
        "unit": Unit.FAHRENHEIT,
        "address": Address(street="Main", number=7),
        "tags": [1, 2],
    }


async def test_defaults_fill_in_missing_optional_arguments() -> None:
    @tool
    def f(city: str, days: int = 3, mode: Literal["a", "b"] = "a") -> str:
        return f"{city}/{days}/{mode}"

    assert await f.invoke({"city": "Oslo"}) == "Oslo/3/a"


async def test_invalid_arguments_list_every_problem_and_do_not_call_the_function() -> None:
    calls: list[object] = []

    @tool
    def f(city: str, days: int, mode: Literal["a", "b"] = "a") -> str:
        calls.append(city)
        return city

    with pytest.raises(ToolArgumentsError) as caught:
        await f.invoke({"days": "many", "mode": "c", "colour": "red"})

    err = caught.value
    assert calls == []
    assert err.tool == "f"
    assert isinstance(err, ToolError)
    locations = [problem.split(":")[0] for problem in err.problems]
    assert locations == ["city", "days", "mode", "colour"]
    message = str(err)
    assert message.startswith("invalid arguments for tool 'f': city: Field required")
    assert "Extra inputs are not permitted" in message
    assert "many" not in message  # the values given are not echoed


async def test_nested_problems_name_the_path() -> None:
    @tool
    def f(address: Address) -> str:
        return address.street

    with pytest.raises(ToolArgumentsError) as caught:
        await f.invoke({"address": {"street": "Main", "number": "seven"}})

    assert caught.value.problems[0].startswith("address.number: ")


async def test_arguments_that_are_not_an_object_are_refused() -> None:
    @tool
    def f(x: int) -> str:
        return str(x)

    with pytest.raises(ToolArgumentsError, match="expected a JSON object"):
        await f.invoke([1])  # type: ignore[arg-type]


async def test_positional_only_parameters_are_passed_by_position() -> None:
    @tool
    def f(a: int, /, b: int) -> str:
        return f"{a}-{b}"

    assert await f.invoke({"a": 1, "b": 2}) == "1-2"


async def test_the_tools_own_exception_propagates_unchanged() -> None:
    @tool
    def f() -> str:
        raise LookupError("no such order")

    with pytest.raises(LookupError, match="no such order"):
        await f.invoke({})


async def test_excluded_parameters_are_injected_by_the_caller() -> None:
    def answer(ctx: object, question: str, retries: int = 1) -> str:
        return f"{ctx}:{question}:{retries}"

    made = Tool.from_function(answer, exclude=("ctx", "retries"))

    assert await made.invoke({"question": "why"}, injected={"ctx": "C"}) == "C:why:1"
    assert await made.invoke({"question": "why"}, injected={"ctx": "C", "retries": 5}) == "C:why:5"
    with pytest.raises(ToolError, match="needs ctx from its caller"):
        await made.invoke({"question": "why"})
    with pytest.raises(ToolArgumentsError, match="ctx: Extra inputs"):
        await made.invoke({"question": "why", "ctx": "from the model"}, injected={"ctx": "C"})


async def test_a_sync_function_returning_an_awaitable_is_awaited() -> None:
    async def later() -> str:
        return "later"

    def wrapper() -> Any:
        return later()

    assert await Tool.from_function(wrapper).invoke({}) == "later"


# --- results as text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain text, as is", "plain text, as is"),
        ({"temp": 21.5, "ok": True}, '{"temp":21.5,"ok":true}'),
        ([1, "two", None], '[1,"two",null]'),
        (42, "42"),
        (2.5, "2.5"),
        (None, "null"),
        (Address(street="Main", number=7), '{"street":"Main","number":7}'),
        (Forecast("Oslo", 3.5), '{"city":"Oslo","high":3.5}'),
        (Unit.CELSIUS, '"celsius"'),
        ({1: "int keys"}, '{"1":"int keys"}'),
        ({"when": datetime.date(2025, 1, 31)}, '{"when":"2025-01-31"}'),
        ({"models": [Address(street="A", number=1)]}, '{"models":[{"street":"A","number":1}]}'),
    ],
)
def test_results_are_rendered_as_text(value: object, text: str) -> None:
    assert render_result(value) == text


def test_a_set_is_rendered_as_a_list() -> None:
    assert render_result({"ids": {3}}) == '{"ids":[3]}'


def test_a_result_json_cannot_hold_is_a_tool_error_naming_the_tool() -> None:
    class Opaque:
        pass

    with pytest.raises(ToolError) as caught:
        render_result({"x": Opaque()}, tool="lookup")

    message = str(caught.value)
    assert message.startswith("tool 'lookup' returned a value of type dict that cannot be turned into text")
    assert "Opaque" in message


async def test_invoke_renders_the_result() -> None:
    @tool
    async def forecast(city: str) -> Forecast:
        return Forecast(city, 21.0)

    assert await forecast.invoke({"city": "Rome"}) == '{"city":"Rome","high":21.0}'


# --- functions of every shape ------------------------------------------------------------


async def test_postponed_annotations_wrappers_methods_partials_and_callables() -> None:
    import functools

    from tools_postponed import Shop, find, find_logged

    shop = Shop()
    made = {
        "plain": Tool.from_function(find),
        "wrapped": Tool.from_function(find_logged),
        "method": Tool.from_function(shop.lookup),
        "partial": Tool.from_function(functools.partial(find, verbose=True), name="find_verbose"),
        "callable": Tool.from_function(shop, name="shop"),
    }

    results = {key: await t.invoke({"order": {"id": "5"}}) for key, t in made.items()}

    assert results == {
        "plain": "5:False",
        "wrapped": "logged 5",
        "method": "shop:5",
        "partial": "5:True",
        "callable": "called:5",
    }
    assert made["method"].description == "Look an order up in this shop."
    assert made["partial"].description == "Find an order."
    assert made["wrapped"].name == "find_logged"
