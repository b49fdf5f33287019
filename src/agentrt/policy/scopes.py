"""Scope keys: which counter of a limit or budget a call counts against.

A scope such as ``tenant+model`` splits a limit into one counter per (tenant,
model) pair. The key of a counter spells its dimensions and values:
``tenant=acme|model=gpt-4o``; ``global`` has one counter, keyed ``global``. A
principal without the field (no tenant) counts in the shared bucket ``-``.
Values are escaped so that no two different principals can share a key.
"""

from __future__ import annotations

from agentrt.calls.principal import Principal
from agentrt.models import ModelSpec

__all__ = ["MISSING", "dimensions_of", "scope_key", "scope_value", "tool_scope_key"]

MISSING = "-"
"""The bucket of every principal that lacks the scope's field (e.g. calls with no tenant)."""

_ESCAPES = str.maketrans({"%": "%25", "|": "%7C", "=": "%3D", ":": "%3A"})


def dimensions_of(scope: str) -> tuple[str, ...]:
    """The dimensions of a validated scope: ``()`` for ``global``, else its ``+``-joined parts in order."""
    return () if scope == "global" else tuple(scope.split("+"))


def scope_value(dimension: str, principal: Principal, model: ModelSpec) -> str | None:
    """The value of one dimension for this call (``None`` when the principal lacks it)."""
    if dimension == "user":
        return principal.user
    if dimension == "tenant":
        return principal.tenant
    if dimension == "api_key":
        return principal.api_key
    if dimension == "model":
        return model.name
    if dimension == "provider":
        return model.provider
    raise ValueError(f"unknown scope dimension {dimension!r}")


def tool_scope_key(dimensions: tuple[str, ...], principal: Principal, tool: str) -> str:
    """The counter key of a call of ``tool`` under a scope of ``dimensions`` (``tool``: one counter per tool)."""
    if not dimensions:
        return "global"
    parts = []
    for dimension in dimensions:
        if dimension == "tool":
            value: str | None = tool
        elif dimension in ("user", "tenant", "api_key"):
            value = getattr(principal, dimension)
        else:  # config validation refuses model and provider scopes on tool limits
            raise ValueError(f"scope dimension {dimension!r} does not apply to tool calls")
        parts.append(f"{dimension}={_escaped(value)}")
    return "|".join(parts)


def _escaped(value: str | None) -> str:
    if value is None:
        return MISSING
    if value == MISSING:
        return "%2D"  # a user literally named "-" is not the shared bucket
    return value.translate(_ESCAPES)


def scope_key(dimensions: tuple[str, ...], principal: Principal, model: ModelSpec) -> str:
    """The counter key of this call under a scope of ``dimensions``."""
    if not dimensions:
        return "global"
    parts = []
    for dimension in dimensions:
        value = scope_value(dimension, principal, model)
        if value is None:
            text = MISSING
        elif value == MISSING:
            text = "%2D"  # a user literally named "-" is not the shared bucket
        else:
            text = value.translate(_ESCAPES)
        parts.append(f"{dimension}={text}")
    return "|".join(parts)
