"""``generate_object``: a validated value from a model, re-asking on invalid output.

The schema sent is made strict-valid (see :mod:`agentrt.calls._strict_schema`)
so OpenAI's strict mode and Anthropic's structured outputs accept it. A type
that is not a pydantic model (``list[int]``, ``str``, a ``TypedDict``...) is
asked for as ``{"value": ...}``, since the providers want an object at the top
of the schema, and returned unwrapped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError, create_model

from agentrt.calls._call import call_settings
from agentrt.calls._messages import Prompt, to_messages
from agentrt.calls._strict_schema import strict_json_schema
from agentrt.calls.principal import Principal
from agentrt.errors import OutputValidationError
from agentrt.types import Message, ResponseFormat

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agentrt.calls.pipeline import CallPipeline

__all__ = ["generate_object"]

T = TypeVar("T")

# Models asked for JSON still wrap it in a Markdown fence now and then.
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


async def generate_object(
    pipeline: CallPipeline,
    model: str,
    prompt: Prompt,
    *,
    schema: type[T],
    retries: int | None = None,
    system: str | None = None,
    user: str | None = None,
    tenant: str | None = None,
    principal: Principal | None = None,
    fallbacks: Sequence[str] | None = None,
    timeout: float | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    params: Mapping[str, Any] | None = None,
    **model_params: Any,
) -> T:
    """Ask ``model`` for JSON matching ``schema`` (a pydantic model or any type pydantic validates).

    Invalid output is sent back to the model with the validation errors, up to
    ``retries`` more times (default: the model's ``object_retries``); after
    that, :class:`OutputValidationError` carries the last errors and output.
    """
    spec = pipeline.catalog.resolve(model)
    allowed = retries if retries is not None else spec.object_retries
    messages = to_messages(prompt, system)
    target = _Target(schema)
    call = call_settings(
        principal or Principal.of(user, tenant),
        "object",
        fallbacks,
        timeout,
        response_format=target.response_format,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        params=params,
        model_params=model_params,
    )
    errors = output = ""
    for _ in range(allowed + 1):
        completion = await pipeline.complete(model, messages, call)
        output = completion.text
        try:
            return target.parse(_unfenced(output))  # type: ignore[no-any-return]  # validated as T
        except ValidationError as err:
            errors = _describe(err)
        messages = [
            *messages,
            Message.assistant(output),
            Message.user(
                "That output does not match the required JSON schema:\n"
                f"{errors}\nReply with the corrected JSON object only."
            ),
        ]
    raise OutputValidationError(
        f"model {spec.name!r} gave no output matching {target.name} after {allowed + 1} tries; "
        f"last errors: {errors}",
        model=spec.name,
        errors=errors,
        output=output,
    )


class _Target:
    """What ``generate_object`` asks for and how it reads the answer: a model as it is, another type wrapped."""

    __slots__ = ("_model", "_wrapped", "name", "response_format")

    def __init__(self, schema: Any) -> None:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            self._model: type[BaseModel] = schema
            self._wrapped = False
            self.name = schema.__name__
        else:
            try:
                self._model = create_model("Output", value=(schema, ...))
            except Exception as err:  # pydantic's own error says what it cannot handle
                raise TypeError(
                    f"schema={schema!r} is not a type pydantic can validate: pass a pydantic model "
                    f"or a type such as list[int] or dict[str, str] ({err})"
                ) from err
            self._wrapped = True
            self.name = getattr(schema, "__name__", None) or repr(schema)
        json_schema, strict = strict_json_schema(self._model.model_json_schema())
        self.response_format = ResponseFormat(json_schema, name=_format_name(self._model.__name__), strict=strict)
        if not strict:
            structlog.get_logger("agentrt.calls").warning(
                "object_schema_not_strict",
                schema=self.name,
                hint="a free-form mapping (dict[str, X]) cannot be a strict schema: it is sent without "
                "strict enforcement, and the answer is still validated (and re-asked) here; "
                "give the mapping fixed fields in a model to make it strict",
            )

    def parse(self, text: str) -> Any:
        parsed = self._model.model_validate_json(text)
        return parsed.value if self._wrapped else parsed  # type: ignore[attr-defined]  # the wrapper's field


def _format_name(name: str) -> str:
    """OpenAI's rule for ``json_schema.name``: letters, digits, ``_`` and ``-``, at most 64."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output"


def _unfenced(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _describe(err: ValidationError) -> str:
    lines = []
    for problem in err.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"]) or "(root)"
        lines.append(f"- {where}: {problem['msg']}")
    return "\n".join(lines)
