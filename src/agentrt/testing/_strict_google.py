"""What Gemini refuses: google-genai's pydantic models (extra fields forbidden), and the turn rules.

The SDK's models spell fields in snake_case with camelCase aliases, as the
API's JSON does: both spellings are accepted, anything else is refused with
Gemini's own "Unknown name" wording, and locations use the proto's snake_case
names (``contents[0].parts``), as the real errors do.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from agentrt.testing._reasoning import ReasoningLedger
from agentrt.testing._strict import Invalid, error_location, first_problem, strict_validator

__all__ = ["check_embed_content", "check_generate_content"]

_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


@functools.cache
def _request_type() -> Any:
    """The generateContent request body, built from the SDK's own models."""
    from google.genai import _common, types
    from pydantic import create_model

    return create_model(
        "GenerateContentRequest",
        __base__=_common.BaseModel,
        contents=(list[types.Content], ...),
        system_instruction=(types.Content | None, None),
        tools=(list[types.Tool] | None, None),
        tool_config=(types.ToolConfig | None, None),
        generation_config=(types.GenerationConfig | None, None),
        safety_settings=(list[types.SafetySetting] | None, None),
        cached_content=(str | None, None),
        labels=(dict[str, str] | None, None),
    )


@functools.cache
def _embed_request_type() -> Any:
    """One embedContent request (also each item of batchEmbedContents' ``requests``)."""
    from google.genai import _common, types
    from pydantic import create_model

    return create_model(
        "EmbedContentRequest",
        __base__=_common.BaseModel,
        model=(str | None, None),
        content=(types.Content, ...),
        task_type=(str | None, None),
        title=(str | None, None),
        output_dimensionality=(int | None, None),
    )


@functools.cache
def _batch_embed_request_type() -> Any:
    from google.genai import _common
    from pydantic import create_model

    requests: Any = list.__class_getitem__(_embed_request_type())  # list[EmbedContentRequest], built at run time
    return create_model("BatchEmbedContentsRequest", __base__=_common.BaseModel, requests=(requests, ...))


def check_embed_content(body: dict[str, Any], batch: bool) -> Invalid | None:
    """Why Gemini would refuse this embedContent (or batchEmbedContents) request; None when it would accept it."""
    errors = strict_validator(_batch_embed_request_type if batch else _embed_request_type).errors(body)
    return _type_problem(first_problem(errors)) if errors else None


def check_generate_content(body: dict[str, Any], model: str, ledger: ReasoningLedger) -> Invalid | None:
    """Why Gemini would refuse this generateContent request; None when it would accept it."""
    errors = strict_validator(_request_type).errors(body)
    if errors:
        return _type_problem(first_problem(errors))
    contents: list[dict[str, Any]] = body["contents"]
    return _turn_problem(contents) or _signature_problem(contents, model, ledger)


def _type_problem(error: dict[str, Any]) -> Invalid:
    loc = tuple(_snake(part) if isinstance(part, str) else part for part in error["loc"])
    if error["type"] == "extra_forbidden":
        name = error["loc"][-1]
        at = f" at '{error_location(loc[:-1])}'" if len(loc) > 1 else ""
        return Invalid(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.', None)
    return Invalid(f"Invalid value at '{error_location(loc)}': {error['msg']}", error_location(loc))


def _snake(name: str) -> str:
    return _CAMEL_HUMP.sub("_", name).lower()


def _parts(content: dict[str, Any]) -> list[dict[str, Any]]:
    parts = content.get("parts")
    return [part for part in parts if isinstance(part, dict)] if isinstance(parts, list) else []


def _field(part: dict[str, Any], camel: str) -> Any:
    return part.get(camel, part.get(_snake(camel)))


def _calls(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [part for part in _parts(content) if _field(part, "functionCall") is not None]


def _responses(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [part for part in _parts(content) if _field(part, "functionResponse") is not None]


def _turn_problem(contents: list[dict[str, Any]]) -> Invalid | None:
    """A function call turn is answered by the next turn, with one function response per call."""
    for index, content in enumerate(contents):
        calls, responses = _calls(content), _responses(content)
        previous_calls = _calls(contents[index - 1]) if index > 0 else []
        if responses and not previous_calls:
            return Invalid("Please ensure that function response turn comes immediately after a function call turn.")
        if calls:
            following = contents[index + 1] if index + 1 < len(contents) else {}
            if len(_responses(following)) != len(calls):
                return Invalid(
                    "Please ensure that the number of function response parts is equal to the number of function "
                    "call parts of the function call turn."
                )
    return None


def _signature_problem(contents: list[dict[str, Any]], model: str, ledger: ReasoningLedger) -> Invalid | None:
    """Signatures come back as issued; on Gemini 3 each step of the current turn must carry its signature."""
    for content in contents:
        for part in _parts(content):
            signature = _field(part, "thoughtSignature")
            if signature is not None and not (isinstance(signature, str) and ledger.issued(signature)):
                return Invalid("Corrupted thought signature.")
    if not model.startswith("gemini-3"):
        return None
    turn_start = 0  # the current turn starts at the last user content that is not a function response
    for index, content in enumerate(contents):
        if content.get("role", "user") == "user" and not _responses(content):
            turn_start = index
    for index in range(turn_start, len(contents)):
        calls = _calls(contents[index])
        if calls and _field(calls[0], "thoughtSignature") is None:
            name = (_field(calls[0], "functionCall") or {}).get("name")
            return Invalid(
                f"Unable to submit request because function call `{name}` in the {index + 1}. content block is "
                "missing a `thought_signature`. Learn more: https://ai.google.dev/gemini-api/docs/thought-signatures"
            )
    return None
