"""The key of a cached answer: what makes two requests the same request.

Two requests are the same when they name the same model (by its configured
name, so an alias and the name share answers) and send the same normalised
messages (prompt strings, OpenAI-style dicts and ``Message`` objects all become
``Message``\\ s first), the same tools and the same parameters that change the
output: temperature, top_p, the output limit, response_format, tool_choice,
stop, seed, the model's configured parameters and any other model parameter.
Parameters that only label a request (``user``, ``metadata``) are left out.
The tenant is part of the key unless the cache is shared across tenants.

The key is the SHA-256 of the canonical JSON of all that (orjson, sorted keys),
so it is the same in every process and every run.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from agentrt.calls._call import _Call
    from agentrt.models import ModelSpec
    from agentrt.types import Message

__all__ = ["IGNORED_PARAMS", "cache_control", "cache_key"]

IGNORED_PARAMS = frozenset({"user", "metadata", "stream", "stream_options", "store", "safety_identifier"})
"""Request parameters that do not change the answer: left out of the key."""

_VERSION = 1  # bump when the key's recipe changes, so old entries are never read as new ones


def cache_key(spec: ModelSpec, messages: list[Message], call: _Call, *, tenant: str | None) -> str:
    """The hex SHA-256 key of a request to ``spec`` (see the module docstring)."""
    params = {name: value for name, value in call.params.items() if name not in IGNORED_PARAMS}
    recipe = {
        "v": _VERSION,
        "model": spec.name,
        "tenant": tenant,
        "messages": messages,
        "tools": call.tool_specs,
        "tool_choice": call.tool_choice,
        "response_format": call.response_format,
        "max_output_tokens": call.max_output_tokens,
        "temperature": call.temperature,
        "params": params,
        "model_params": dict(spec.params),
    }
    text = orjson.dumps(recipe, default=_plain, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(text).hexdigest()


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: bytes (an image's data) by digest, sets sorted, the rest by repr."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, tuple):
        return list(value)
    return repr(value)


def cache_control(header: str | None) -> bool | str | None:
    """The ``cache=`` of a call from an HTTP ``Cache-Control`` header: ``no-store`` -> False (neither read nor
    write), ``no-cache`` -> ``"refresh"`` (write, never read), else None (as configured)."""
    if not header:
        return None
    directives = {part.strip().split("=", 1)[0].lower() for part in header.split(",")}
    if "no-store" in directives:
        return False
    if "no-cache" in directives:
        return "refresh"
    return None
