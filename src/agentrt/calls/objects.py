"""``generate_object``: a validated pydantic instance from a model, re-asking on invalid output."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentrt.calls._call import _Call
from agentrt.calls._messages import Prompt, to_messages
from agentrt.calls.pipeline import merge_params
from agentrt.calls.principal import Principal
from agentrt.errors import OutputValidationError
from agentrt.types import Message, ResponseFormat

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from agentrt.calls.pipeline import CallPipeline

__all__ = ["generate_object"]

M = TypeVar("M", bound=BaseModel)

# Models asked for JSON still wrap it in a Markdown fence now and then.
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.DOTALL)


async def generate_object(
    pipeline: CallPipeline,
    model: str,
    prompt: Prompt,
    *,
    schema: type[M],
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
) -> M:
    """Ask ``model`` for JSON matching ``schema`` and return it validated.

    Invalid output is sent back to the model with the validation errors, up to
    ``retries`` more times (default: the model's ``object_retries``); after
    that, :class:`OutputValidationError` carries the last errors and output.
    """
    spec = pipeline.catalog.resolve(model)
    allowed = retries if retries is not None else spec.object_retries
    messages = to_messages(prompt, system)
    call = _Call(
        principal or Principal.of(user, tenant),
        "object",
        fallbacks,
        timeout,
        response_format=ResponseFormat(schema.model_json_schema(), name=schema.__name__),
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        params=merge_params(params, model_params),
    )
    errors = output = ""
    for _ in range(allowed + 1):
        completion = await pipeline.complete(model, messages, call)
        output = completion.text
        try:
            return schema.model_validate_json(_unfenced(output))
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
        f"model {spec.name!r} gave no output matching {schema.__name__} after {allowed + 1} tries; "
        f"last errors: {errors}",
        model=spec.name,
        errors=errors,
        output=output,
    )


def _unfenced(text: str) -> str:
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _describe(err: ValidationError) -> str:
    lines = []
    for problem in err.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in problem["loc"]) or "(root)"
        lines.append(f"- {where}: {problem['msg']}")
    return "\n".join(lines)
