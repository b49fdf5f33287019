"""A small, deterministic JSON value that validates against a JSON Schema.

The offline ``local`` provider and the fake upstream answer ``generate_object``
requests with it, so code that asks for structured output can run and be tested
without a model. It covers what pydantic emits (objects, arrays, scalars,
enums, consts, ``$ref``/``$defs``, ``anyOf``/``oneOf``/``allOf``, formats and
bounds); a schema beyond that gets the closest simple value.
"""

from __future__ import annotations

from typing import Any

__all__ = ["sample_for_schema"]

_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def sample_for_schema(schema: dict[str, Any], *, text: str = "example") -> Any:
    """A value valid for ``schema``; strings without constraints are ``text``."""
    return _sample(schema, schema.get("$defs", schema.get("definitions", {})), text, depth=0)


def _sample(schema: Any, defs: dict[str, Any], text: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > 32:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _sample(defs.get(name, {}), defs, text, depth + 1)
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, []) if not (isinstance(o, dict) and o.get("type") == "null")]
        if options:
            return _sample(options[0], defs, text, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            resolved = defs.get(part["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in part else part
            merged = {**merged, **resolved}
        return _sample(merged, defs, text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return _BY_TYPE.get(kind, _null)(schema, defs, text, depth)


def _object(schema: dict[str, Any], defs: dict[str, Any], text: str, depth: int) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = schema.get("required", list(properties))
    return {name: _sample(properties.get(name, {}), defs, text, depth + 1) for name in required}


def _array(schema: dict[str, Any], defs: dict[str, Any], text: str, depth: int) -> list[Any]:
    count = max(1, int(schema.get("minItems", 1)))
    items = schema.get("items", {})
    if isinstance(schema.get("prefixItems"), list):
        return [_sample(item, defs, text, depth + 1) for item in schema["prefixItems"]]
    return [_sample(items, defs, text, depth + 1) for _ in range(count)]


def _string(schema: dict[str, Any], defs: dict[str, Any], text: str, depth: int) -> str:
    value = _FORMATS.get(schema.get("format", ""), text)
    minimum = int(schema.get("minLength", 0))
    maximum = schema.get("maxLength")
    if len(value) < minimum:
        value = value + "x" * (minimum - len(value))
    if maximum is not None:
        value = value[: int(maximum)]
    return value


def _number(schema: dict[str, Any], defs: dict[str, Any], text: str, depth: int) -> float:
    return float(_bounded(schema, 1))


def _integer(schema: dict[str, Any], defs: dict[str, Any], text: str, depth: int) -> int:
    return int(_bounded(schema, 1))


def _bounded(schema: dict[str, Any], preferred: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = preferred
    if low is not None and value <= low:
        value = low + 1 if "exclusiveMinimum" in schema else low
    if high is not None and value >= high:
        value = high - 1 if "exclusiveMaximum" in schema else high
    return value


def _boolean(schema: dict[str, Any], defs: dict[str, Any], text: str, depth: int) -> bool:
    return True


def _null(schema: dict[str, Any], defs: dict[str, Any], text: str, depth: int) -> None:
    return None


_BY_TYPE = {
    "object": _object,
    "array": _array,
    "string": _string,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
    "null": _null,
}
