"""Strict validators built from the official SDKs' request types, and the refusal they produce.

The SDKs describe their request bodies as TypedDicts (openai, anthropic) or
pydantic models (google-genai). A TypedDict lets unknown keys through and an
``Iterable[...]`` field validates lazily (never, unless consumed), so the core
schema pydantic builds for a type is rewritten once: every typed dict forbids
extra keys, and every generator becomes a list. Validators are built on first
use and cached: the SDK imports (over half a second for openai) are paid by the
first request of that API, not by ``FakeUpstream()``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Invalid", "SchemaGap", "StrictValidator", "error_location", "strict_schema_gap", "strict_validator"]

_SCALAR_MEMBERS = frozenset({"str", "int", "float", "bool", "bytes", "none", "any", "dict", "list"})
_DISCRIMINATORS = ("role", "type")


@dataclass(slots=True, frozen=True)
class Invalid:
    """Why the fake refused a request: the API's own wording, and the parameter at fault when one is."""

    message: str
    param: str | None = None


class StrictValidator:
    """Validates plain JSON data against one SDK type, unknown keys refused."""

    __slots__ = ("_validator",)

    def __init__(self, validator: Any) -> None:
        self._validator = validator

    def errors(self, data: Any) -> list[dict[str, Any]]:
        """The pydantic errors of ``data`` (empty when valid), union members' names left out of locations."""
        from pydantic_core import ValidationError

        try:
            self._validator.validate_python(data)
        except ValidationError as exc:
            return _relevant([dict(error) for error in exc.errors(include_url=False)])
        return []


@functools.cache
def strict_validator(factory: Callable[[], Any]) -> StrictValidator:
    """A cached strict validator for the type ``factory()`` returns (the factory keeps the SDK import lazy)."""
    from pydantic import BaseModel, TypeAdapter
    from pydantic_core import SchemaValidator

    kind = factory()
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        kind.model_rebuild(force=True)  # the SDK's models defer building their schema
        schema = kind.__pydantic_core_schema__
    else:
        schema = TypeAdapter(kind).core_schema
    return StrictValidator(SchemaValidator(_forbid_extras(schema)))


def _forbid_extras(schema: Any) -> Any:
    """A copy of a core schema in which typed dicts and models forbid extra keys and generators are lists."""
    if isinstance(schema, list):
        return [_forbid_extras(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    rewritten = {key: _forbid_extras(value) for key, value in schema.items()}
    kind = rewritten.get("type")
    if kind in ("typed-dict", "model-fields"):
        rewritten["extra_behavior"] = "forbid"
        rewritten.pop("extras_schema", None)  # a schema for extra keys makes no sense once they are refused
        rewritten.pop("extras_keys_schema", None)
    elif kind == "generator":
        rewritten = {"type": "list", "items_schema": rewritten.get("items_schema", {"type": "any"})}
    return rewritten


def _is_member(part: str | int) -> bool:
    """Whether a location part names a union member (a type) rather than a field."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or part in _SCALAR_MEMBERS)


def _relevant(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors of the union members the request meant, locations as the request's own paths.

    A union (a message is one of six TypedDicts) reports one error per member.
    A member whose ``role`` or ``type`` literal did not match is not the one
    the request meant, so its errors are dropped, unless no member matched at
    all: then the literal errors say which values are allowed.
    """
    mismatched: set[tuple[str | int, ...]] = set()
    for error in errors:
        loc = error["loc"]
        if error["type"] == "literal_error" and len(loc) >= 2 and loc[-1] in _DISCRIMINATORS and _is_member(loc[-2]):
            mismatched.add(tuple(loc[:-1]))
    kept = [e for e in errors if not any(tuple(e["loc"][: i + 1]) in mismatched for i in range(len(e["loc"])))]
    chosen = kept or [e for e in errors if e["type"] == "literal_error"] or errors
    return [{**e, "loc": tuple(p for p in e["loc"] if not _is_member(p))} for e in chosen]


def first_problem(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The error most worth reporting: an unknown key first, else the most specific (deepest) one."""
    return max(errors, key=lambda e: (e["type"] == "extra_forbidden", len(e["loc"])))


def allowed_values(errors: list[dict[str, Any]], loc: tuple[str | int, ...]) -> list[str]:
    """Every literal a union would have accepted at ``loc`` (its members' ``role`` or ``type``)."""
    values: list[str] = []
    for error in errors:
        if error["type"] == "literal_error" and error["loc"] == loc:
            expected = str((error.get("ctx") or {}).get("expected", ""))
            values += [v.strip().strip("'") for v in expected.replace(" or ", ",").split(",") if v.strip()]
    return values


def error_location(loc: Sequence[str | int], *, brackets: bool = True) -> str:
    """``('messages', 0, 'content')`` as ``messages[0].content`` (or ``messages.0.content``)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]" if brackets else f".{part}"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(slots=True, frozen=True)
class SchemaGap:
    """Where a JSON schema falls short of strict structured output, and how."""

    context: tuple[str, ...]  # the path to the object schema at fault
    additional: bool  # True: additionalProperties is not false; False: a property is not required
    value: Any = None  # the additionalProperties given (absent: None), or the property not required


def strict_schema_gap(schema: Any, context: tuple[str, ...] = (), *, require_all: bool = True) -> SchemaGap | None:
    """What strict structured output refuses in a JSON schema, at any depth (properties, items, anyOf, $defs):
    an object without ``additionalProperties: false`` (OpenAI and Anthropic) or, with ``require_all``, with a
    property missing from ``required`` (OpenAI, where an optional field is a nullable one instead)."""
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties")
    if schema.get("type") == "object" or isinstance(properties, dict):
        if schema.get("additionalProperties") is not False:
            return SchemaGap(context, True, schema.get("additionalProperties"))
        required = schema.get("required")
        for key in list(properties or {}) if require_all else []:
            if not isinstance(required, list) or key not in required:
                return SchemaGap(context, False, key)
    children: list[tuple[tuple[str, ...], Any]] = []
    if isinstance(properties, dict):
        children += [((*context, "properties", name), child) for name, child in properties.items()]
    children += [((*context, key), schema.get(key)) for key in ("items", "additionalItems")]
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        children += [((*context, key, str(i)), child) for i, child in enumerate(schema.get(key) or [])]
    for key in ("$defs", "definitions"):
        children += [((*context, key, name), child) for name, child in (schema.get(key) or {}).items()]
    for where, child in children:
        gap = strict_schema_gap(child, where, require_all=require_all)
        if gap is not None:
            return gap
    return None
