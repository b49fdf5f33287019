"""The ``local`` kind: an offline, deterministic model for demos, ``make run`` and tests.

No network, no key, the same answer to the same conversation every time. It is
configured through the provider's ``options``::

    providers:
      offline:
        kind: local
        options:
          latency: 50ms              # optional: wait this long before answering
          embedding_dim: 8           # optional: length of the embedding vectors (default 8)
          rules:                     # optional: first rule whose regex matches the last user text wins
            - match: "(?i)weather in (\\w+)"
              tool_call: {name: get_weather, arguments: {city: Paris}}
              reply: "It is sunny."  # optional: the answer once the tool has answered
            - match: "(?i)^hello"
              reply: "Hello! How can I help?"

What it answers, given a request:

1. The last user message's text is matched (``re.search``) against each rule's
   ``match`` in order; the first match decides.
2. A ``tool_call`` rule asks for that tool, if the request offers it and the
   conversation holds no tool result since the last user message. Once a result
   is there, it answers the rule's ``reply``, or else
   ``"<tool> returned: <result>"``. A rule with only ``reply`` answers it.
3. With a ``response_format`` it answers JSON: a matching rule's ``reply`` if
   that is valid JSON, else a value sampled from the schema (valid against it:
   strings are ``"example"``, numbers 1, one item per array, ...), or
   ``{"text": "echo: <last user text>"}`` without a schema.
4. Otherwise it echoes: ``"echo: <last user text>"``.

Usage counts a token per four characters (rounded up) of the conversation and
of the answer. The output cap holds as on a real API: a text longer than
``max_output_tokens`` (or a smaller cap in ``params``: ``max_tokens``,
``max_completion_tokens``, ...) is cut to that many tokens, with finish reason
``length``; as with the HTTP kinds, ``params`` may not set the model, the
messages or ``stream``, and ``n`` above 1 is refused. Streaming yields the text in word-sized deltas, then each tool
call in one delta, then the ``StreamFinish``. Embeddings are unit vectors of
``embedding_dim`` floats derived from a hash of each text: equal texts, equal
vectors.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import struct
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentrt._schema_sample import sample_for_schema
from agentrt.config._paths import format_path
from agentrt.config._types import Duration
from agentrt.errors import ConfigError, ConfigProblem, RuntimeStateError
from agentrt.providers._base import estimate_tokens
from agentrt.providers._params import ParamGuard
from agentrt.types import (
    ChatRequest,
    EmbeddingRequest,
    Message,
    ProviderEmbeddings,
    ProviderResponse,
    ProviderStreamEvent,
    StreamFinish,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["LocalClient"]

_WORDS = re.compile(r"\S+\s*|\s+")


class _ToolCallRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str
    reply: str | None = None
    tool_call: _ToolCallRule | None = None

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"not a valid regular expression: {err}") from None
        return value

    @model_validator(mode="after")
    def _does_something(self) -> _Rule:
        if self.reply is None and self.tool_call is None:
            raise ValueError("a rule needs reply: <text>, tool_call: {name, arguments}, or both")
        return self


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[_Rule] = Field(default_factory=list)
    latency: Duration = 0.0
    embedding_dim: int = Field(default=8, ge=1, le=65536)


class LocalClient:
    """The offline provider: deterministic answers from rules, echoes and schema samples."""

    kind = "local"

    def __init__(self, name: str, section: ProviderSection) -> None:
        self.name = name
        self.section = section
        try:
            self._options = _Options.model_validate(section.options)
        except ValidationError as err:
            raise ConfigError(
                [
                    ConfigProblem(
                        format_path(("providers", name, "options", *error["loc"])),
                        error["msg"].removeprefix("Value error, "),
                    )
                    for error in err.errors(include_url=False)
                ]
            ) from None
        self._patterns = [re.compile(rule.match) for rule in self._options.rules]
        self._guard = ParamGuard(name, drop_params=True, controlled=("model", "messages", "stream"))
        self._closed = False

    def __repr__(self) -> str:
        return f"LocalClient(name={self.name!r}, rules={len(self._options.rules)})"

    # --- chat -----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        """The deterministic answer to ``request`` (after the configured latency)."""
        self._check_open()
        text, calls, reason = self._capped_answer(request)
        if self._options.latency:
            await asyncio.sleep(self._options.latency)
        return ProviderResponse(
            text=text,
            tool_calls=calls,
            finish_reason=reason,
            usage=_usage(request, text, calls),
            model=request.model,
            raw={"text": text, "tool_calls": [[c.name, c.arguments] for c in calls]},
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderStreamEvent]:
        """The same answer as :meth:`complete`, in word-sized text deltas, then one ``StreamFinish``."""
        self._check_open()
        text, calls, reason = self._capped_answer(request)
        if self._options.latency:
            await asyncio.sleep(self._options.latency)
        for word in _WORDS.findall(text):
            yield TextDelta(word)
        for index, call in enumerate(calls):
            yield ToolCallDelta(index, call.id, call.name, orjson.dumps(call.arguments).decode())
        yield StreamFinish(
            finish_reason=reason,
            usage=_usage(request, text, calls),
            tool_calls=calls,
            model=request.model,
        )

    def _capped_answer(self, request: ChatRequest) -> tuple[str, list[ToolCall], str]:
        """The answer, its text cut to the output cap, and the finish reason."""
        _, cap = self._guard.split(request.params, request.max_output_tokens, model=request.model)
        text, calls = self._answer(request)
        if cap is not None and estimate_tokens(text) > cap:
            return text[: cap * 4], calls, "length"
        return text, calls, "tool_calls" if calls else "stop"

    def _answer(self, request: ChatRequest) -> tuple[str, list[ToolCall]]:
        messages = request.messages
        last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), -1)
        user_text = messages[last_user].text if last_user >= 0 else ""
        results = [m for m in messages[last_user + 1 :] if m.role == "tool"]  # this turn's tool results
        offered = {tool.name for tool in request.tools}
        reply: str | None = None
        for rule, pattern in zip(self._options.rules, self._patterns, strict=True):
            if pattern.search(user_text) is None:
                continue
            call = rule.tool_call
            if call is not None and not results:
                if call.name not in offered:
                    continue  # the caller could not run it: let another rule (or the echo) answer
                return "", [ToolCall(id=_call_id(messages), name=call.name, arguments=dict(call.arguments))]
            if call is not None and rule.reply is None:
                reply = f"{call.name} returned: {results[-1].text}"
            else:
                reply = rule.reply
            break
        format_ = request.response_format
        if format_ is not None:
            if reply is not None and _is_json(reply):
                return reply, []
            if format_.schema is not None:
                return orjson.dumps(sample_for_schema(format_.schema)).decode(), []
            return orjson.dumps({"text": f"echo: {user_text}"}).decode(), []
        return (reply if reply is not None else f"echo: {user_text}"), []

    # --- embeddings and check ---------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        """One deterministic unit vector per input."""
        self._check_open()
        if self._options.latency:
            await asyncio.sleep(self._options.latency)
        dim = self._options.embedding_dim
        return ProviderEmbeddings(
            vectors=[embedding_vector(text, dim) for text in request.inputs],
            usage=Usage(input_tokens=sum(estimate_tokens(text) for text in request.inputs)),
            model=request.model,
        )

    async def check(self) -> str:
        """Always healthy: there is nothing to reach."""
        self._check_open()
        rules = len(self._options.rules)
        return f"offline and deterministic, {rules} rule{'s' if rules != 1 else ''}"

    async def aclose(self) -> None:
        """Nothing to release; later calls raise ``RuntimeStateError``. Idempotent."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeStateError(f"provider client {self.name!r} is closed; create a new one (or a new runtime)")


def embedding_vector(text: str, dim: int) -> list[float]:
    """A unit vector of ``dim`` floats in [-1, 1] before scaling, derived from a hash of ``text``."""
    values: list[float] = []
    block = 0
    while len(values) < dim:
        digest = hashlib.blake2b(text.encode(), digest_size=64, person=block.to_bytes(16, "little")).digest()
        values.extend(v / 2**31 for v in struct.unpack("<16i", digest))
        block += 1
    del values[dim:]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _call_id(messages: list[Message]) -> str:
    # Numbered by the calls already in the conversation: unique within it, the same on every run.
    earlier = sum(len(m.tool_calls) for m in messages)
    return f"call_local_{earlier + 1}"


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _usage(request: ChatRequest, text: str, calls: list[ToolCall]) -> Usage:
    input_chars = sum(len(m.text) for m in request.messages)
    output_chars = len(text) + sum(len(c.name) + len(orjson.dumps(c.arguments)) for c in calls)
    return Usage(input_tokens=math.ceil(input_chars / 4), output_tokens=math.ceil(output_chars / 4))
