"""The settings of one call, shared by every step of its tool loop, and how callers' options become them.

Callers write options the way the API they know spells them: OpenAI's
``max_tokens`` / ``max_completion_tokens``, a ``response_format`` dict. Here
they become the one field the pipeline reasons about (``max_output_tokens``,
a :class:`ResponseFormat`) before the policy computes its hold, so a budget
always holds what the provider will be told.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from agentrt.calls.policy_hook import Operation
from agentrt.calls.principal import Principal, new_request_id, request_id
from agentrt.types import ResponseFormat, ToolSpec

__all__ = ["OUTPUT_LIMIT_ALIASES", "CacheMode", "_Call", "cache_mode", "call_settings", "to_response_format"]

CacheMode: TypeAlias = Literal["use", "refresh", "off"]
"""``use``: read and write the response cache; ``refresh``: write, never read (``Cache-Control: no-cache``);
``off``: neither (``no-store``)."""

OUTPUT_LIMIT_ALIASES = ("max_tokens", "max_completion_tokens")
"""Other APIs' names of ``max_output_tokens`` (OpenAI's old and new), accepted as keywords and in ``params``."""


@dataclass(slots=True)
class _Call:
    """The settings of one call, shared by every step of its tool loop."""

    principal: Principal
    operation: Operation
    fallbacks: Sequence[str] | None
    timeout: float | None
    tool_specs: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None  # joins the ledger row, the audit row, the log line and the span
    cache: CacheMode | None = None  # the response cache for this call; None: as configured
    cache_ttl: float | None = None  # seconds a stored answer lives; None: the model's or the cache's TTL
    parent_span: Any = None  # the span of the model call whose tool calls run next: their execute_tool parent


def call_settings(
    principal: Principal,
    operation: Operation,
    fallbacks: Sequence[str] | None,
    timeout: float | None,
    *,
    tool_choice: str | dict[str, Any] | None = None,
    response_format: object = None,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
    params: Mapping[str, Any] | None = None,
    model_params: dict[str, Any] | None = None,
    cache: bool | str | None = None,
    cache_ttl: float | None = None,
) -> _Call:
    """The :class:`_Call` for a caller's options: output-size aliases folded in, ``response_format`` parsed.

    The request id is the one the server set (``agentrt.calls.request_id``), else a new one.
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be more than 0 seconds (math.inf for none), got {timeout}")
    merged = _merged(params, model_params)
    if "stream" in merged:
        _check_stream_flag(operation, merged.pop("stream"))
    if "response_format" in merged:  # given in params=: the same thing as the keyword
        given = merged.pop("response_format")
        if response_format is None:
            response_format = given
    return _Call(
        principal,
        operation,
        fallbacks,
        timeout,
        tool_choice=tool_choice,
        response_format=to_response_format(response_format),
        max_output_tokens=_output_limit(max_output_tokens, merged),
        temperature=temperature,
        params=merged,
        request_id=request_id.get() or new_request_id(),
        cache=cache_mode(cache),
        cache_ttl=_cache_ttl(cache_ttl),
    )


def _cache_ttl(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"cache_ttl must be a number of seconds above 0, got {value!r}")
    return float(value)


def cache_mode(value: bool | str | None) -> CacheMode | None:
    """The cache mode a caller's ``cache=`` names: True (use), False (off), ``"refresh"``, or None (as configured)."""
    if value is None:
        return None
    mode = _CACHE_MODES.get(value) if isinstance(value, bool | str) else None
    if mode is None:
        raise ValueError(
            "cache must be True (read and write the response cache), False (neither), 'refresh' (write, never "
            f"read) or None (as configured); got {value!r}"
        )
    return mode


_CACHE_MODES: dict[bool | str, CacheMode] = {
    True: "use",
    False: "off",
    "use": "use",
    "refresh": "refresh",
    "off": "off",
}


def _merged(params: Mapping[str, Any] | None, model_params: dict[str, Any] | None) -> dict[str, Any]:
    """Model parameters given as a mapping and as keywords; the keywords win. Always a fresh dict."""
    if not params:
        return dict(model_params) if model_params else {}
    return {**params, **model_params} if model_params else dict(params)


def _output_limit(explicit: int | None, params: dict[str, Any]) -> int | None:
    """``max_output_tokens`` from the keyword or an alias (taken out of ``params``); two different values: error."""
    named: dict[str, Any] = {}
    if explicit is not None:
        named["max_output_tokens"] = explicit
    for name in ("max_output_tokens", *OUTPUT_LIMIT_ALIASES):
        if name in params:
            value = params.pop(name)
            if value is not None:
                named.setdefault(name, value)
    if not named:
        return None
    values = set(named.values())
    if len(values) > 1:
        given = ", ".join(f"{name}={value!r}" for name, value in named.items())
        raise ValueError(
            f"conflicting output limits: {given}. They are the same setting (max_output_tokens, "
            "max_tokens and max_completion_tokens are aliases); pass only one"
        )
    (value,) = values
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        name = next(iter(named))
        raise ValueError(f"{name} must be a whole number of tokens, 1 or more; got {value!r}")
    return value


def _check_stream_flag(operation: Operation, value: object) -> None:
    if operation == "stream":
        if value is False:
            raise ValueError("stream=False was passed to rt.stream(...): call rt.generate(...) for one whole answer")
        return
    if value:
        raise ValueError(
            "stream=True is not a parameter of generate: use rt.stream(...) for a stream of events "
            "(async for event in rt.stream(model, prompt): ...)"
        )


def to_response_format(value: object) -> ResponseFormat | None:
    """A :class:`ResponseFormat` from what callers pass as ``response_format``.

    Accepted: a ``ResponseFormat``; OpenAI's ``{"type": "json_object"}``,
    ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` and
    ``{"type": "text"}`` (no format); a pydantic model class (its strict schema).
    """
    if value is None or isinstance(value, ResponseFormat):
        return value
    if isinstance(value, Mapping):
        return _from_openai_dict(value)
    if isinstance(value, type):
        from pydantic import BaseModel

        if issubclass(value, BaseModel):
            from agentrt.calls._strict_schema import strict_json_schema

            schema, strict = strict_json_schema(value.model_json_schema())
            return ResponseFormat(schema, name=value.__name__, strict=strict)
    raise TypeError(
        f"response_format must be a ResponseFormat, an OpenAI-style dict ({{'type': 'json_object'}} or "
        f"{{'type': 'json_schema', 'json_schema': {{'name': ..., 'schema': {{...}}}}}}) or a pydantic model class; "
        f"got {type(value).__name__}"
    )


def _from_openai_dict(value: Mapping[str, Any]) -> ResponseFormat | None:
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat(None)
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema"), Mapping):
            raise ValueError(
                "response_format {'type': 'json_schema'} needs 'json_schema': "
                "{'name': 'answer', 'schema': {...a JSON Schema...}, 'strict': true}"
            )
        name = spec.get("name") or "output"
        # OpenAI's default: strict only when asked, since strict mode refuses many valid schemas.
        return ResponseFormat(dict(spec["schema"]), name=str(name), strict=bool(spec.get("strict", False)))
    raise ValueError(
        f"response_format type {kind!r} is not known: use 'text', 'json_object' or 'json_schema' "
        "(with 'json_schema': {'name': ..., 'schema': {...}})"
    )
