"""Turning pydantic's validation errors into one short ``ConfigProblem`` each.

A person fixing a config file wants the path, what is wrong in plain words, and
the line: not pydantic's class names, input echoes (which may be secrets) or
documentation links.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from agentrt.config._paths import MASK, Loc, format_path
from agentrt.config._source import Origins
from agentrt.errors import ConfigProblem

__all__ = ["problems_from_validation", "scrub"]

_PREFIXES = ("Value error, ", "Assertion failed, ")


def problems_from_validation(
    exc: ValidationError, model: type[BaseModel], origins: Origins, *, skip: Iterable[Loc] = ()
) -> list[ConfigProblem]:
    """One problem per error; errors at or under a path in ``skip`` (already reported) are dropped."""
    skipped = tuple(skip)
    out: list[ConfigProblem] = []
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if part != "[key]")
        if any(loc[: len(prefix)] == prefix for prefix in skipped):
            continue
        out.append(ConfigProblem(format_path(loc), _message(error, loc, model), origins.get(loc)))
    return out


def scrub(problems: Iterable[ConfigProblem], secrets: Iterable[str]) -> list[ConfigProblem]:
    """The problems with any secret value that slipped into a message replaced by the mask.

    Messages are built never to echo a secret; this is the belt to those braces.
    """
    values = sorted({value for value in secrets if len(value) >= 4}, key=len, reverse=True)
    out: list[ConfigProblem] = []
    for problem in problems:
        message = problem.message
        for value in values:
            message = message.replace(value, MASK)
        out.append(
            problem if message == problem.message else ConfigProblem(problem.path, message, problem.source)
        )
    return out


def _message(error: ErrorDetails, loc: Loc, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"missing required key {loc[-1]!r}" if loc else "a required value is missing"
    if kind == "extra_forbidden" and loc:
        return _unknown_key(str(loc[-1]), _keys_at(model, loc[:-1]))
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping of keys to values, got {_kind(error['input'])}"
    if kind == "list_type":
        return f"expected a list, got {_kind(error['input'])}"
    if kind == "string_type":
        return f"expected text, got {_kind(error['input'])}"
    message = error["msg"]
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message[:1].lower() + message[1:]


def _unknown_key(key: str, allowed: list[str] | None) -> str:
    if not allowed:
        return f"unknown key {key!r}: remove it"
    import difflib  # lazily: only configs with a typo pay for it

    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}: expected one of {', '.join(allowed)}"


def _kind(value: Any) -> str:
    # Only the type: the value itself may be a secret.
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _keys_at(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """The keys the section at ``loc`` accepts, by walking the schema's annotations."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {field.alias or name: field for name, field in current.model_fields.items()}
            if not isinstance(part, str) or part not in fields:
                return None
            current = fields[part].annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is list and isinstance(part, int):
            current = typing.get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation
