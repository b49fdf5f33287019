"""JSON Schemas that OpenAI's strict mode and Anthropic's structured outputs accept.

Both refuse a schema unless every object says ``additionalProperties: false``
and lists every property in ``required``: pydantic's schemas do neither. The
rewrite follows the openai SDK's own (``to_strict_json_schema``): on every
object, nested models, ``$defs``, list items and ``anyOf`` branches included,
close it and require all its properties (an ``Optional`` field stays nullable,
so the model can still say null); drop ``default: null``, which strict mode
refuses; inline a ``$ref`` that has sibling keys.

A free-form mapping (``dict[str, X]``: ``additionalProperties`` is a schema)
cannot be strict. The schema is then returned unchanged apart from the
closing of the other objects, with ``strict`` False, so the provider still
gets a JSON schema to follow, only not enforced.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["strict_json_schema"]


def strict_json_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A strict-valid copy of ``schema`` and whether it can be strict (False when it holds a free-form mapping)."""
    root = copy.deepcopy(schema)
    strict = _make_strict(root, root)
    return root, strict


def _make_strict(node: Any, root: dict[str, Any]) -> bool:
    """Rewrite ``node`` in place; False when some object in it is a free-form mapping."""
    if not isinstance(node, dict):
        return True
    strict = True
    for defs_key in ("$defs", "definitions"):
        for definition in (node.get(defs_key) or {}).values():
            strict = _make_strict(definition, root) and strict
    properties = node.get("properties")
    is_object = node.get("type") == "object" or isinstance(properties, dict)
    if is_object:
        extra = node.get("additionalProperties")
        if extra is None or extra is False:
            node["additionalProperties"] = False
        else:  # dict[str, X] or dict[str, Any]: its keys are open by design
            _make_strict(extra, root)
            strict = False
        if isinstance(properties, dict):
            node["required"] = list(properties)
            for prop in properties.values():
                strict = _make_strict(prop, root) and strict
    for key in ("items", "prefixItems", "not"):
        child = node.get(key)
        if isinstance(child, list):
            for item in child:
                strict = _make_strict(item, root) and strict
        else:
            strict = _make_strict(child, root) and strict
    for key in ("anyOf", "oneOf"):
        for branch in node.get(key) or ():
            strict = _make_strict(branch, root) and strict
    all_of = node.get("allOf")
    if isinstance(all_of, list):
        if len(all_of) == 1:  # pydantic wraps a described $ref this way; strict mode wants it plain
            node.update(all_of.pop())
            del node["allOf"]
            strict = _make_strict(node, root) and strict
        else:
            for branch in all_of:
                strict = _make_strict(branch, root) and strict
    if "default" in node and node["default"] is None:
        del node["default"]
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1:  # strict mode refuses keys beside a $ref: inline it
        target = _resolve(root, ref)
        del node["$ref"]
        for key, value in target.items():
            node.setdefault(key, copy.deepcopy(value))
        strict = _make_strict(node, root) and strict
    return strict


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"the schema refers to {ref!r}: only references inside the schema (#/...) can be used")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    if not isinstance(node, dict):
        raise ValueError(f"the schema reference {ref!r} does not lead to a schema")
    return node
