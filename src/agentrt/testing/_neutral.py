"""The fake's neutral form of a call, shared by the three wire formats.

Each format module parses its request into a :class:`ChatCall` (or
:class:`EmbedCall`), the server turns the scripted :class:`Reply` into an
:class:`Answer`, and the format module renders that answer, plain or as stream
events, in its own wire format. Only the format modules know a wire format.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from agentrt._schema_sample import sample_for_schema
from agentrt.testing._script import Api, Reply
from agentrt.testing._strict import Invalid

__all__ = [
    "Answer",
    "ChatCall",
    "Dialect",
    "EmbedCall",
    "IdMint",
    "PlannedToolCall",
    "Rejection",
    "build_answer",
    "embedding_vector",
    "estimate_tokens",
]


@dataclass(slots=True)
class ChatCall:
    """What a chat request asks, whatever its format."""

    model: str
    stream: bool
    last_user_text: str
    input_chars: int
    tool_names: list[str] = field(default_factory=list)
    wants_json: bool = False
    json_schema: dict[str, Any] | None = None
    include_usage: bool = False  # OpenAI streams: a last chunk with the usage
    thinking: bool = False  # Anthropic: the request turned extended thinking on


@dataclass(slots=True)
class EmbedCall:
    """What an embedding request asks: one vector per text."""

    model: str
    texts: list[str]
    dimensions: int | None = None
    as_base64: bool = False  # OpenAI's encoding_format="base64"


@dataclass(slots=True, frozen=True)
class Rejection:
    """A request the fake refuses as invalid (400 by default), with a message that says what is wrong."""

    message: str
    status: int = 400


@dataclass(slots=True)
class PlannedToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    arguments_json: str
    thought_signature: str | None = None  # Gemini 3 signs the first function call of a step


@dataclass(slots=True)
class Answer:
    """The reply to render: text, tool calls, usage and the stop reason (None: the format's natural one)."""

    model: str
    text: str
    tool_calls: list[PlannedToolCall]
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    finish_reason: str | None
    chunk_size: int
    thinking: str | None = None  # Anthropic: a signed thinking block opens the reply
    thinking_signature: str | None = None

    def text_chunks(self) -> list[str]:
        size = self.chunk_size
        return [self.text[i : i + size] for i in range(0, len(self.text), size)]


class IdMint:
    """Deterministic ids, one counter per prefix, so a test sees the same ids on every run."""

    def __init__(self) -> None:
        self._counters: dict[str, itertools.count[int]] = {}

    def next(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}fake{next(counter):06d}"

    def reset(self) -> None:
        self._counters.clear()


def estimate_tokens(chars: int) -> int:
    """The fake's token count: a quarter of the characters, rounded up."""
    return math.ceil(chars / 4)


def build_answer(reply: Reply, call: ChatCall, *, tool_call_id: Any) -> Answer:
    """Resolve a scripted reply against the request; ``tool_call_id()`` mints the format's tool call ids."""
    if reply.text is not None:
        text = reply.text
    elif reply.tool_calls:
        text = ""
    elif call.wants_json:
        text = orjson.dumps(sample_for_schema(call.json_schema or {"type": "object"})).decode()
    else:
        text = f"echo: {call.last_user_text}"
    tool_calls = [
        PlannedToolCall(tool_call_id(), name, dict(arguments), orjson.dumps(arguments).decode())
        for name, arguments in reply.tool_calls
    ]
    if reply.usage is not None:
        input_tokens, output_tokens = reply.usage
    else:
        output_chars = len(text) + sum(len(c.name) + len(c.arguments_json) for c in tool_calls)
        input_tokens, output_tokens = estimate_tokens(call.input_chars), estimate_tokens(output_chars)
    return Answer(
        model=call.model,
        text=text,
        tool_calls=tool_calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=reply.cached_tokens,
        finish_reason=reply.finish_reason,
        chunk_size=reply.chunk_size,
    )


def embedding_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector of ``dim`` floats derived from a hash of ``text``.

    Values are rounded through float32 so the base64 (float32) encoding and the
    JSON list carry exactly the same numbers.
    """
    raw = bytearray()
    block = 0
    while len(raw) < 4 * dim:
        raw += hashlib.blake2b(f"{block}:{text}".encode(), digest_size=64).digest()
        block += 1
    values = [(n / 0xFFFFFFFF) * 2.0 - 1.0 for n in struct.unpack(f"<{dim}I", bytes(raw[: 4 * dim]))]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    unit = [v / norm for v in values]
    return list(struct.unpack(f"<{dim}f", struct.pack(f"<{dim}f", *unit)))


def float32_base64(vector: list[float]) -> str:
    import base64

    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def text_of_parts(content: Any, key: str = "text") -> str:
    """The text of a message content: a string, or the ``key`` of each part of a list, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part[key] for part in content if isinstance(part, dict) and isinstance(part.get(key), str))
    return ""


class Dialect(Protocol):
    """One provider's wire format: parse its requests, render answers, errors, streams and lists."""

    @property
    def api(self) -> Api: ...

    def request_model(self, body: Any, path_model: str | None) -> str | None: ...

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool: ...

    def auth_error(self) -> tuple[int, dict[str, Any]]: ...

    def error(
        self, status: int, message: str, code: str | None, retry_after: float | None = None
    ) -> dict[str, Any]: ...

    def context_length_error(self, call: ChatCall | None) -> tuple[int, dict[str, Any]]: ...

    def invalid_request(self, problem: Invalid, request_id: str) -> dict[str, Any]: ...

    def parse_chat(self, body: Any, path_model: str | None, streaming_path: bool) -> ChatCall | Rejection: ...

    def render_reply(self, answer: Answer, mint: IdMint) -> dict[str, Any]: ...

    def render_stream(self, answer: Answer, call: ChatCall, mint: IdMint) -> list[bytes]: ...

    def garbage_event(self) -> bytes: ...
