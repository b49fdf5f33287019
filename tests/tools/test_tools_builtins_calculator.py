"""The calculator built-in: Python's arithmetic on valid input, its own error on anything else, no eval."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.config._tools import CalculatorOptions
from agentrt.tools.builtins.calculator import CalculatorError, calculator_tools, evaluate

# Expressions of the accepted grammar, which Python's own eval computes the same way.
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False).map(repr),
)


def _binary(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = st.sampled_from(["+", "-", "*", "/", "//", "%", "**"])
    return st.one_of(
        st.builds(lambda a, op, b: f"({a} {op} {b})", children, ops, children),
        st.builds(lambda sign, a: f"{sign}{a}", st.sampled_from(["-", "+"]), children),
        st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["min", "max"]), children, children),
        st.builds(lambda a: f"abs({a})", children),
    )


expressions = st.recursive(numbers, _binary, max_leaves=12)


def python_value(expression: str) -> object:
    # The oracle: Python itself, on text our own grammar produced (never on model input).
    return eval(expression, {"__builtins__": {}}, {"min": min, "max": max, "abs": abs})


@settings(max_examples=400, deadline=None)
@given(expressions)
def test_it_matches_python_arithmetic_or_refuses_in_its_own_words(expression: str) -> None:
    try:
        ours = evaluate(expression)
    except CalculatorError:
        return  # too large, division by zero, complex: refused, which Python may compute or raise on
    expected = python_value(expression)
    if isinstance(expected, float) and math.isnan(expected):
        pytest.fail(f"{expression} gave {ours!r}, Python gives nan")
    assert ours == expected
    assert type(ours) is type(expected)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_number_or_a_calculator_error(text: str) -> None:
    try:
        result = evaluate(text)
    except CalculatorError:
        return
    assert isinstance(result, int | float)
    assert not isinstance(result, bool)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/%().e ,abcdefghijklmnopqrstuvwxyz_[]'\"", max_size=60))
def test_arithmetic_looking_text_never_escapes(text: str) -> None:
    with contextlib.suppress(CalculatorError):
        evaluate(text)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9**9**9", "exponent 387420489 is larger than 10000"),
        ("2**20000", "exponent 20000 is larger"),
        ("7**5000", "more than 1000 digits"),
        ("10/0", "division by zero"),
        ("(-8) ** 0.5", "complex"),
        ("__import__('os').system('true')", "only these functions are known"),
        ("().__class__", "is not arithmetic"),
        ("x + 1", "unknown name 'x'"),
        ("True + 1", "True is not a number"),
        ("'a' * 3", "'a' is not a number"),
        ("1e400", "too large"),
        ("2.0 ** 5000", "too large for a floating-point number"),
        ("-" * 300 + "1", "nests deeper than 100"),
        ("1 +", "not an arithmetic expression"),
        ("", "empty"),
        ("1" * 3000, "longer than 2000 characters"),
        ("round(1.5, 2.5)", "round() takes"),
        ("sqrt(-1)", "math domain error"),
    ],
)
def test_refusals_say_why(expression: str, message: str) -> None:
    with pytest.raises(CalculatorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate(expression)


def test_the_usual_arithmetic() -> None:
    assert evaluate(" 2 * (3 + 4) ") == 14
    assert evaluate("7 // 2") == 3
    assert evaluate("2 ** 3000") == 2**3000  # exact integers within the digit bound
    assert evaluate("round(pi, 3)") == 3.142
    assert evaluate("sqrt(16) + max(1, 2, 3) - min(4, 5)") == 3.0


async def test_the_tool_answers_as_text_with_the_configured_bounds() -> None:
    (tool,) = calculator_tools(CalculatorOptions(max_exponent=10, max_digits=5))
    assert tool.name == "evaluate"
    assert await tool.invoke({"expression": "2 ** 10"}) == "1024"
    with pytest.raises(CalculatorError, match="larger than 10"):
        await tool.invoke({"expression": "2 ** 11"})
    with pytest.raises(CalculatorError, match="more than 5 digits"):
        await tool.invoke({"expression": "999 * 999"})
