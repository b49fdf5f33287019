"""The ``calculator`` built-in: arithmetic on numbers, by walking the expression's syntax tree.

Nothing is ever evaluated by Python itself: ``ast.parse`` reads the text, and
only numbers, ``+ - * / // % **``, unary ``+ -``, parentheses, the names ``pi``
and ``e`` and the functions ``abs round min max sqrt`` are accepted. Integers
are exact as in Python, but bounded: an exponent above ``max_exponent``, or an
integer (given or computed) longer than ``max_digits`` digits, is refused before
it is computed, so ``9**9**9`` costs nothing. Every refusal is a
:class:`CalculatorError` saying what is wrong.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any, Final

from agentrt.config._tools import CalculatorOptions
from agentrt.tools._tool import Tool

__all__ = ["MAX_EXPRESSION_LENGTH", "CalculatorError", "calculator_tools", "evaluate"]

Number = int | float

MAX_EXPRESSION_LENGTH: Final = 2_000
"""Longer expressions are refused unread: they are not arithmetic a model should delegate."""
_MAX_DEPTH: Final = 100
_LOG2_10: Final = math.log2(10)

_BINARY: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: Final[dict[type[ast.unaryop], Callable[[Any], Any]]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_NAMES: Final[dict[str, float]] = {"pi": math.pi, "e": math.e}
_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
}
_SYMBOLS: Final = "numbers, + - * / // % **, parentheses, pi, e, abs(), round(), min(), max(), sqrt()"


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot compute; the message says why."""


def evaluate(expression: str, *, max_exponent: int = 10_000, max_digits: int = 1_000) -> Number:
    """The value of ``expression``, as Python computes it; :class:`CalculatorError` for anything else.

    Raises nothing but :class:`CalculatorError` whatever the text (a property the tests check).
    """
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be text, e.g. '2 * (3 + 4)'")
    text = expression.strip()
    if not text:
        raise CalculatorError(f"the expression is empty: write arithmetic with {_SYMBOLS}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise CalculatorError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise CalculatorError(f"{text!r} is not an arithmetic expression: use {_SYMBOLS}") from None
    walker = _Walker(max_exponent, max_bits=int(max_digits * _LOG2_10) + 1, max_digits=max_digits)
    try:
        result = walker.value(tree.body, 0)
    except CalculatorError:
        raise
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except OverflowError:
        raise CalculatorError("the result is too large for a floating-point number") from None
    except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as err:
        raise CalculatorError(f"cannot compute {text!r}: {err}") from None
    if isinstance(result, float) and not math.isfinite(result):
        raise CalculatorError("the result is not a finite number")
    return result


class _Walker:
    __slots__ = ("max_bits", "max_digits", "max_exponent")

    def __init__(self, max_exponent: int, *, max_bits: int, max_digits: int) -> None:
        self.max_exponent = max_exponent
        self.max_bits = max_bits
        self.max_digits = max_digits

    def value(self, node: ast.expr, depth: int) -> Number:
        if depth > _MAX_DEPTH:
            raise CalculatorError(f"the expression nests deeper than {_MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            return self._bounded(self._constant(node.value))
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise CalculatorError(f"operator {type(node.op).__name__} is not arithmetic: use {_SYMBOLS}")
            left = self.value(node.left, depth + 1)
            right = self.value(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):
                self._check_power(left, right)
            return self._bounded(op(left, right))
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY.get(type(node.op))
            if unary is None:
                raise CalculatorError(f"operator {type(node.op).__name__} is not arithmetic: use {_SYMBOLS}")
            result: Number = unary(self.value(node.operand, depth + 1))
            return result
        if isinstance(node, ast.Name):
            if node.id not in _NAMES:
                raise CalculatorError(f"unknown name {node.id!r}: the names known are pi and e")
            return _NAMES[node.id]
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        raise CalculatorError(f"{type(node).__name__} is not arithmetic: use {_SYMBOLS}")

    def _constant(self, value: object) -> Number:
        # bool is an int subclass, and complex numbers are not arithmetic a model means.
        if isinstance(value, float) and not math.isfinite(value):
            raise CalculatorError(f"{value!r} is too large for a floating-point number")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise CalculatorError(f"{value!r} is not a number: use {_SYMBOLS}")

    def _call(self, node: ast.Call, depth: int) -> Number:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        function = _FUNCTIONS.get(name) if name is not None else None
        if function is None or node.keywords:
            known = ", ".join(f"{n}()" for n in _FUNCTIONS)
            raise CalculatorError(f"only these functions are known: {known}, without keywords")
        args = [self.value(arg, depth + 1) for arg in node.args]
        if name in ("min", "max") and not args:
            raise CalculatorError(f"{name}() needs at least one number")
        if name in ("abs", "sqrt") and len(args) != 1:
            raise CalculatorError(f"{name}() takes one number")
        if name == "round":
            if len(args) not in (1, 2) or (len(args) == 2 and not isinstance(args[1], int)):
                raise CalculatorError("round() takes a number and, optionally, a whole number of digits")
            if len(args) == 2 and abs(args[1]) > self.max_digits:
                raise CalculatorError(f"round() takes at most {self.max_digits} digits")
        result: Number = function(*args)
        return self._bounded(result)

    def _check_power(self, base: Number, exponent: Number) -> None:
        if abs(exponent) > self.max_exponent:
            raise CalculatorError(f"the exponent {exponent!r} is larger than {self.max_exponent}: refused")
        # The bit length of base**exponent is about bits(base) * exponent: refuse before computing it.
        exact = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
        if exact and (abs(int(base)).bit_length() - 1) * int(exponent) > self.max_bits:
            raise CalculatorError(f"the result would have more than {self.max_digits} digits: refused")

    def _bounded(self, value: Number) -> Number:
        # More bits than max_bits means more digits than max_digits (see evaluate): no need to print it.
        if isinstance(value, int) and value.bit_length() > self.max_bits:
            raise CalculatorError(f"a number has more than {self.max_digits} digits: refused")
        if isinstance(value, complex):  # a negative number to a fractional power
            raise CalculatorError("the result is a complex number, which the calculator does not give")
        return value


def calculator_tools(options: CalculatorOptions) -> list[Tool[..., Any]]:
    """The ``evaluate`` tool, with the options' bounds."""

    def evaluate_tool(expression: str) -> str:
        """Compute an arithmetic expression exactly (integers) or in floating point, e.g. "(2 + 3) * 7 / 2".

        Args:
            expression: Numbers with + - * / // % ** and parentheses; pi, e; abs, round, min, max, sqrt.
        """
        return str(evaluate(expression, max_exponent=options.max_exponent, max_digits=options.max_digits))

    return [Tool.from_function(evaluate_tool, name="evaluate")]
