"""The JSON Schema editors get: the pydantic schema, widened to what the loader accepts before validation.

The loader reads more than the validated model: ``{include: file}`` in place of
any value, ``${VAR}`` in place of any scalar (a port, a flag, a level), and a
``$schema`` key at the top of a file. A schema without them flags every
project ``agentrt init`` writes; with them, it accepts exactly those forms and
still refuses wrong types and unknown keys.
"""

from __future__ import annotations

from typing import Any

__all__ = ["widen_for_the_loader"]

_INCLUDE = "Include"
_VARIABLE = "VariableReference"
_DEFS: dict[str, dict[str, Any]] = {
    _INCLUDE: {
        "type": "object",
        "description": "The content of another config file (relative to this one, inside the project folder).",
        "properties": {"include": {"type": "string", "minLength": 1}},
        "required": ["include"],
        "additionalProperties": False,
    },
    _VARIABLE: {
        "type": "string",
        "description": "A value read from the environment when the config is loaded: ${NAME} or ${NAME:-default}.",
        "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
    },
}
_SCHEMA_PROPERTY: dict[str, Any] = {
    "type": "string",
    "description": "The JSON Schema of this file, for editors; the loader ignores it.",
}
# Shown by editors next to the field; kept on the outside of the widened schema.
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")


def widen_for_the_loader(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (a pydantic ``Config`` schema) where includes, variables and ``$schema`` are accepted."""
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    for name, definition in list(defs.items()):
        defs[name] = _widen_children(definition, defs)
    widened = _widen_children(schema, defs)
    widened["properties"] = {"$schema": _SCHEMA_PROPERTY, **widened.get("properties", {})}
    # A file included for a section may carry its own $schema key at its top.
    for section in widened["properties"].values():
        target = _target(section, defs)
        if target is not None and target.get("type") == "object":
            target.setdefault("properties", {})
            target["properties"] = {"$schema": _SCHEMA_PROPERTY, **target["properties"]}
    defs.update(_DEFS)
    return widened


def _widen_children(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    out = dict(node)
    if isinstance(node.get("properties"), dict):
        out["properties"] = {key: _widen(value, defs) for key, value in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict) and node["additionalProperties"]:
        out["additionalProperties"] = _widen(node["additionalProperties"], defs)
    if isinstance(node.get("items"), dict):
        out["items"] = _widen(node["items"], defs)
    return out


def _widen(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``node`` or an include, and for scalar positions also a ``${VAR}`` reference."""
    inner = _widen_children({k: v for k, v in node.items() if k not in _ANNOTATIONS}, defs)
    choices: list[dict[str, Any]] = [inner, {"$ref": f"#/$defs/{_INCLUDE}"}]
    if not _is_container(inner, defs):
        choices.append({"$ref": f"#/$defs/{_VARIABLE}"})
    outer: dict[str, Any] = {k: v for k, v in node.items() if k in _ANNOTATIONS}
    outer["anyOf"] = choices
    return outer


def _target(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The schema ``node`` stands for: itself, or the definition it refers to (or its anyOf's only choice)."""
    if "anyOf" in node and len(node["anyOf"]) >= 1:
        node = node["anyOf"][0]
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = defs.get(ref.removeprefix("#/$defs/"))
        return found if isinstance(found, dict) else None
    return node


def _is_container(node: dict[str, Any], defs: dict[str, Any]) -> bool:
    """A mapping or a list: interpolation only ever yields text, which can never stand for one."""
    target = _target(node, defs) or node
    kinds = target.get("type")
    if isinstance(kinds, str):
        return kinds in ("object", "array")
    options = target.get("anyOf")
    if isinstance(options, list) and options:
        return all(_is_container(option, defs) for option in options if option.get("type") != "null")
    return False
