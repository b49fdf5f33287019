"""Rendering a compiled prompt's parts into messages, inside the sandbox's bounds.

A message's text is stripped of the blank space around it (templates are
indented and end with newlines); a message that renders to nothing is left out,
so ``{% if context %}...{% endif %}`` can make a whole system message optional.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

from agentrt.errors import PromptError
from agentrt.prompts._compile import CompiledPrompt, Part
from agentrt.prompts._sandbox import MAX_RESULT, iteration_budget
from agentrt.types import Message

__all__ = ["render_messages"]


def render_messages(compiled: CompiledPrompt, values: dict[str, Any]) -> list[Message]:
    """The messages of ``compiled`` for ``values`` (already checked against the inputs)."""
    messages: list[Message] = []
    total = 0
    with iteration_budget():
        for part in compiled.parts:
            pieces: list[str] = []
            try:
                for chunk in _chunks(part, values):
                    total += len(chunk)
                    if total > MAX_RESULT:
                        raise PromptError(
                            f"prompt {compiled.name!r} rendered more than {MAX_RESULT:,} characters: "
                            "check its loops and the size of its inputs",
                            prompt=compiled.name,
                        )
                    pieces.append(chunk)
            except PromptError:
                raise
            except Exception as err:  # the template's own failure: a missing key, a refused attribute...
                raise PromptError(
                    f"prompt {compiled.name!r} failed to render{_where(part, err.__traceback__)}: "
                    f"{type(err).__name__}: {err}",
                    prompt=compiled.name,
                ) from None
            text = "".join(pieces).strip()
            if text:
                messages.append(Message(part.role, text))  # type: ignore[arg-type]  # roles are checked at load
    if not messages:
        raise PromptError(
            f"prompt {compiled.name!r} rendered to no text at all: check the conditions in its template",
            prompt=compiled.name,
        )
    return messages


def _chunks(part: Part, values: dict[str, Any]) -> Iterator[str]:
    context = part.template.new_context(values)
    if part.block is not None:
        return part.template.blocks[part.block](context)
    return part.template.root_render_func(context)


def _where(part: Part, tb: TracebackType | None) -> str:
    """`` at prompts.x.user line 3`` from the deepest frame of the template's code, if any."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == part.label:
            line = part.template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    if line is None:
        return f" ({part.label})"
    return f" ({part.label}:{line})" if part.in_file else f" ({part.label}, line {line})"
