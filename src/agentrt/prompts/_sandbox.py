"""The one Jinja2 environment prompts render in: sandboxed, strict, no filesystem, bounded.

- ``ImmutableSandboxedEnvironment``: no private or internal attribute
  (``''.__class__``, ``x.__globals__``, ``func.__code__``) and no method that changes a
  list or dict an input passed in; what a template may touch is the inputs' data.
- ``StrictUndefined``: a name or key that is not there is an error, not an empty
  string sent to a model.
- No loader: ``{% include %}``, ``{% extends %}`` and ``{% import %}`` have nothing to
  read (they are refused when the prompt is compiled, see ``_compile``).
- Autoescape off: the output is a prompt, not HTML.
- Bounds, cheap to keep: ``range`` and the iterations of every ``range`` in one
  render share a budget; ``*`` and ``**`` refuse results too large to build; the
  rendered text has a size cap (see :mod:`agentrt.prompts._render`).
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
from collections.abc import Iterator
from typing import Any, Final

from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["MAX_ITERATIONS", "MAX_RESULT", "PromptEnvironment", "iteration_budget"]

MAX_ITERATIONS: Final = 1_000_000
"""Items every ``range`` of one render may yield together."""
MAX_RESULT: Final = 1_000_000
"""Length of the longest string or list ``*`` may build, and of the rendered text."""
_MAX_POWER_BITS: Final = 4096

_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("agentrt_prompt_budget", default=None)


@contextlib.contextmanager
def iteration_budget(limit: int = MAX_ITERATIONS) -> Iterator[None]:
    """Give the renders inside it one shared budget of ``range`` iterations."""
    token = _budget.set([limit])
    try:
        yield
    finally:
        _budget.reset(token)


def _bounded_range(*args: int) -> Iterator[int]:
    numbers = range(*args)
    left = _budget.get()
    if left is None:
        left = [MAX_ITERATIONS]  # rendered outside iteration_budget: this range alone
    if len(numbers) > left[0]:
        raise SecurityError(
            f"range() of {len(numbers)} items is over what is left of this render's budget "
            f"({left[0]} of {MAX_ITERATIONS} iterations): a prompt does not need that many"
        )
    left[0] -= len(numbers)
    return iter(numbers)


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


class PromptEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox every prompt template is compiled in."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            loader=None,
            auto_reload=False,
            cache_size=0,
        )
        self.globals["range"] = _bounded_range

    def call_binop(self, context: Context, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for seq, times in ((left, right), (right, left)):
                if _sized(seq) and isinstance(times, int) and _sized(seq) * times > MAX_RESULT:
                    raise SecurityError(f"'*' would build {_sized(seq) * times} items, over the cap of {MAX_RESULT}")
            return operator.mul(left, right)
        if (
            operator_name == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and abs(left).bit_length() * right > _MAX_POWER_BITS
        ):
            raise SecurityError(f"'**' would build a number of over {_MAX_POWER_BITS} bits")
        return super().call_binop(context, operator_name, left, right)
