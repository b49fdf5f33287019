"""Checks that a request suits its model, made before any network call, and the token estimate they use.

Both run on every call, so they are a few set lookups and ``len`` calls: no
tokenizer, no allocation proportional to the conversation beyond what is needed.
The provider still has the final word; this catches the mistakes that are
certain (tools on a model without tools) and the overflows that are obvious.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from agentrt.errors import CapabilityError
from agentrt.models._spec import ModelSpec
from agentrt.types import ImagePart, Message, ToolSpec

__all__ = ["IMAGE_TOKENS", "check_request", "estimate_tokens", "input_token_bound", "json_token_bound"]

IMAGE_TOKENS = 1_600
"""Tokens counted per image: about the most OpenAI and Anthropic bill for one image at default detail."""

# Role markers and separators each message costs on top of its text (OpenAI documents
# 3-4), and the few that prime the reply.
_PER_MESSAGE = 4
_PER_REQUEST = 3
_PER_TOOL = 8
_PER_TOOL_CALL = 4

# (capability, what the request asks for), in the order they are checked.
_FEATURES = {
    "tools": "use tools",
    "json": "produce JSON output with a schema",
    "vision": "read images",
    "streaming": "stream its answer",
    "embeddings": "compute embeddings",
    "chat": "chat (generate text)",
}


def check_request(
    spec: ModelSpec,
    *,
    tools: bool = False,
    json_schema: bool = False,
    images: bool = False,
    stream: bool = False,
    embeddings: bool = False,
    input_tokens: int = 0,
    max_output_tokens: int | None = None,
) -> None:
    """Raise :class:`CapabilityError` if ``spec`` cannot serve the request described.

    An embeddings request (``embeddings=True``) needs the ``embeddings``
    capability; any other request is a chat request and needs ``chat``, plus
    ``tools``, ``json``, ``vision`` or ``streaming`` for the features it uses.
    ``max_output_tokens`` above the model's ``max_output_tokens`` is refused
    (capability ``max_output_tokens``); ``input_tokens`` (an estimate, see
    :func:`estimate_tokens`) plus ``max_output_tokens`` above the model's
    ``context_window`` is refused with capability ``context``. Unset limits are
    not checked.
    """
    capabilities = spec.capabilities
    if embeddings:
        if "embeddings" not in capabilities:
            raise _missing(spec, "embeddings")
    else:
        if "chat" not in capabilities:
            raise _missing(spec, "chat")
        if tools and "tools" not in capabilities:
            raise _missing(spec, "tools")
        if json_schema and "json" not in capabilities:
            raise _missing(spec, "json")
        if images and "vision" not in capabilities:
            raise _missing(spec, "vision")
        if stream and "streaming" not in capabilities:
            raise _missing(spec, "streaming")
    output_limit = spec.max_output_tokens
    if max_output_tokens is not None and output_limit is not None and max_output_tokens > output_limit:
        raise CapabilityError(
            f"model {spec.name!r} writes at most {output_limit} output tokens, "
            f"the request asks for up to {max_output_tokens}: lower max_output_tokens, "
            "or call a model that writes more",
            model=spec.name,
            capability="max_output_tokens",
        )
    window = spec.context_window
    if window is not None and input_tokens + (max_output_tokens or 0) > window:
        reserved = f" + {max_output_tokens} reserved for the answer" if max_output_tokens else ""
        raise CapabilityError(
            f"the request does not fit the context window of model {spec.name!r} ({window} tokens): "
            f"about {input_tokens} input tokens{reserved}. Shorten the conversation"
            f"{', lower max_output_tokens' if max_output_tokens else ''}, "
            "or call a model with a larger context_window",
            model=spec.name,
            capability="context",
        )


def _missing(spec: ModelSpec, capability: str) -> CapabilityError:
    return CapabilityError(
        f"model {spec.name!r} cannot {_FEATURES[capability]}: add {capability!r} to "
        f"models.{spec.name}.capabilities if it supports it, or call a model that does",
        model=spec.name,
        capability=capability,
    )


def estimate_tokens(messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> int:
    """A quick, deliberately generous estimate of the input tokens of a request.

    About four characters a token for ASCII text; text with other characters
    counts its UTF-8 bytes instead (CJK text runs near a token per character,
    which characters/4 would undercount badly). Each message adds a small
    overhead, each image :data:`IMAGE_TOKENS`, each tool its name, description
    and JSON Schema. It is the pre-check against the context window, not a
    bill: usage reported by the provider replaces it.
    """
    return _count(messages, tools, bytes_per_token=4)


def input_token_bound(
    messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, response_schema: object = None
) -> int:
    """An upper bound of the input tokens of a request: what a budget must hold.

    Counted as one token per UTF-8 byte (plus the same per-message, image and
    tool overheads as :func:`estimate_tokens`): byte-level tokenizers never
    emit more tokens than bytes, so a reservation of this size cannot be
    outgrown by the provider's count. It overstates typical text about four
    times; the settle replaces it with the provider's count at once. Everything
    sent counts: the messages, the tools, the ``response_schema`` of a JSON
    answer; add :func:`json_token_bound` of the extra parameters passed as given.
    """
    total = _count(messages, tools, bytes_per_token=1)
    if response_schema is not None:
        total += _json_tokens(response_schema, 1)
    return total


def json_token_bound(value: object) -> int:
    """The upper bound (a token per byte of its JSON) of a value sent as it is, such as extra parameters."""
    return _json_tokens(value, 1) if value else 0


def _count(messages: Sequence[Message], tools: Sequence[ToolSpec], *, bytes_per_token: int) -> int:
    total = _PER_REQUEST
    for message in messages:
        total += _PER_MESSAGE
        content = message.content
        if isinstance(content, str):
            total += _text_tokens(content, bytes_per_token)
        else:
            for part in content:
                total += IMAGE_TOKENS if isinstance(part, ImagePart) else _text_tokens(part.text, bytes_per_token)
        for call in message.tool_calls:
            total += (
                _PER_TOOL_CALL
                + _text_tokens(call.name, bytes_per_token)
                + _json_tokens(call.arguments, bytes_per_token)
            )
    for tool in tools:
        total += (
            _PER_TOOL
            + _text_tokens(tool.name, bytes_per_token)
            + _text_tokens(tool.description, bytes_per_token)
            + _json_tokens(tool.parameters, bytes_per_token)
        )
    return total


def _text_tokens(text: str, bytes_per_token: int) -> int:
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return -(-size // bytes_per_token)


def _json_tokens(value: object, bytes_per_token: int) -> int:
    # orjson is quick and its output mostly ASCII; an estimate must not fail on an odd value.
    try:
        size = len(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, ValueError):
        size = len(str(value).encode("utf-8", "surrogatepass"))
    return -(-size // bytes_per_token)
