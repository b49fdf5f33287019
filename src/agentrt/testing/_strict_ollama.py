"""What Ollama's API takes: the official ``ollama`` client's request models, unknown fields refused.

The request bodies of ``/api/chat`` and ``/api/embed`` are validated with the
``ChatRequest`` and ``EmbedRequest`` pydantic models of the official ``ollama``
Python client (a dev dependency, imported on first use). Those models ignore
unknown keys, and so does the real server, silently: a client sending
OpenAI's ``max_tokens`` (Ollama's is ``options.num_predict``) would never learn
that its cap was dropped. So unknown keys are looked for here, by walking the
body along the models' fields, and refused. One rule the types cannot say, from
Ollama's API documentation: images are base64 data, never URLs.
"""

from __future__ import annotations

import collections.abc
import functools
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from agentrt.testing._strict import Invalid, error_location

__all__ = ["check_ollama_chat", "check_ollama_embed"]

# A tool's JSON Schema is the caller's own: Ollama keeps the keywords it knows and ignores the others, which
# is not a mistake of the client's, so it is not walked.
_FREE_FORM = frozenset({"parameters"})


@functools.cache
def _request_models() -> tuple[type[BaseModel], type[BaseModel]]:
    from ollama._types import ChatRequest, EmbedRequest

    return ChatRequest, EmbedRequest


def _shapes(annotation: Any, inside: str = "value") -> list[tuple[str, type[BaseModel]]]:
    """The pydantic models an annotation can hold, each with where: the value itself, list items, or mapping
    values (through Optional, unions, sequences and mappings)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(inside, annotation)]
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (dict, collections.abc.Mapping) and len(arguments) == 2:
        return [(where, model) for where, model in _shapes(arguments[1], "mapping") if where == "mapping"]
    if origin in (list, tuple, collections.abc.Sequence):
        return [(where, model) for argument in arguments for where, model in _shapes(argument, "list")]
    return [shape for argument in arguments for shape in _shapes(argument, inside)]


def _unknown_key(model: type[BaseModel], data: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The path of the first key of ``data`` that ``model`` (recursively) does not declare; None when all are."""
    if not isinstance(data, dict):
        return None
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            return (*path, key)
        if key in _FREE_FORM:
            continue
        for inside in ("value", "list", "mapping"):
            candidates = [m for where, m in _shapes(field.annotation) if where == inside]
            if not candidates:
                continue
            if inside == "list" and isinstance(value, list):
                items: list[tuple[str | int | None, Any]] = list(enumerate(value))
            elif inside == "mapping" and isinstance(value, dict):
                items = list(value.items())
            elif inside == "value" and isinstance(value, dict):
                items = [(None, value)]
            else:
                continue
            for at, item in items:
                where = (*path, key) if at is None else (*path, key, at)
                problems = [_unknown_key(candidate, item, where) for candidate in candidates]
                if all(problem is not None for problem in problems):  # no model of the union takes every key
                    return problems[0]
    return None


def _problem(model: type[BaseModel], body: dict[str, Any]) -> Invalid | None:
    unknown = _unknown_key(model, body, ())
    if unknown is not None:
        where = error_location(unknown)
        return Invalid(f'json: unknown field "{where}"', where)
    try:
        model.model_validate(body)
    except ValidationError as err:
        error = err.errors(include_url=False)[0]
        where = error_location([p for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper())])
        return Invalid(f"invalid {where}: {error['msg']}", where)
    return None


def check_ollama_chat(body: dict[str, Any]) -> Invalid | None:
    """Why this /api/chat body is not one the official client's ChatRequest describes; None when it is."""
    problem = _problem(_request_models()[0], body)
    if problem is not None:
        return problem
    for index, message in enumerate(body.get("messages") or []):
        for image in message.get("images") or []:
            if isinstance(image, str) and image.startswith(("data:", "http://", "https://")):
                return Invalid(
                    f"messages[{index}].images: images are base64 data without a data: prefix, never URLs",
                    f"messages[{index}].images",
                )
    return None


def check_ollama_embed(body: dict[str, Any]) -> Invalid | None:
    """Why this /api/embed body is not one the official client's EmbedRequest describes; None when it is."""
    return _problem(_request_models()[1], body)
