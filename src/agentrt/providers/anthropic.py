"""The ``anthropic`` kind: the Anthropic Messages API.

``base_url`` defaults to ``https://api.anthropic.com`` (``/v1/messages`` is
appended, as the official SDK does); requests carry ``x-api-key`` and
``anthropic-version: 2023-06-01`` (override it, or add ``anthropic-beta``,
through the section's ``headers``).

How a :class:`~agentrt.types.ChatRequest` maps to the wire:

- system messages are joined into the top-level ``system``;
- the other messages become user/assistant turns of content blocks; consecutive
  turns of one role are merged (the API wants all results of parallel tool calls
  in one user turn); tool results become ``tool_result`` blocks in a user turn,
  assistant tool calls ``tool_use`` blocks; images ``image`` blocks with a
  ``base64`` source (bytes, ``data:`` URLs) or a ``url`` source;
- ``max_tokens`` is required by the API: ``max_output_tokens``, else the
  section's ``options.max_tokens``, else 4096;
- ``tool_choice`` ``"auto"``, ``"none"``, ``"required"`` (→ ``any``), a tool's
  name (→ that tool) or a dict sent as given; ``stop`` → ``stop_sequences``;
  ``params`` merged into the body last (``output_config`` merged key by key),
  after the checks of :mod:`agentrt.providers._params` (no override of the
  model, the messages, the system prompt, ``stream`` or the output cap).

OpenAI-only parameters (the gateway passes what OpenAI clients send) are
translated where Anthropic has an equivalent: ``parallel_tool_calls: false`` →
``tool_choice.disable_parallel_tool_use``, ``stop`` → ``stop_sequences``,
``user`` → ``metadata.user_id``, ``service_tier`` ``auto``/``default`` →
``auto``/``standard_only``, ``reasoning_effort`` → ``output_config.effort``;
``n: 1`` is dropped and ``n`` above 1 refused; a ``temperature`` above 1 (OpenAI's
scale goes to 2) is sent as 1, with a warning. The others (``seed``,
``logit_bias``, ``logprobs``, ``frequency_penalty``, ``presence_penalty``,
``store``, OpenAI's free-form ``metadata``, ...) are dropped with a warning, or
refused with ``options.drop_params: false``. ``response_format`` in params is
refused: the call's own ``response_format`` is the one agentrt translates.

JSON output (``response_format``) depends on the section's
``options.json_output``:

- ``native`` (default): Anthropic's structured outputs, ``output_config.format =
  {type: json_schema, schema}``; the JSON comes back as the text. Without a
  schema (plain JSON mode) the system prompt asks for one JSON object instead,
  as structured outputs need a schema. Needs a model with structured outputs
  (Claude 4.5 and later); the schema must be in the subset Anthropic accepts
  (objects with ``additionalProperties: false``), as OpenAI's strict mode wants.
- ``tool``: for models without structured outputs. The request gets one more
  tool, named after the format (``output`` by default), whose input schema is
  the requested one (any object without one), and ``tool_choice`` forces it
  (``any`` when the request has tools of its own). Its input comes back as the
  response *text*, as JSON, and streams as text deltas; a schema whose top level
  is not an object travels wrapped in ``{"value": ...}`` and is unwrapped. With
  extended thinking, which allows no forced tool, the tool is only offered
  (below), so prefer ``native`` there.

``finish_reason`` is mapped to OpenAI's words: ``end_turn``/``stop_sequence``/
``pause_turn`` → ``stop``, ``max_tokens``/``model_context_window_exceeded`` →
``length``, ``tool_use`` → ``tool_calls``, ``refusal`` → ``refusal`` (with
``refusal`` set: the classifier stopped the answer; any text before it stays the
text), anything newer → ``stop``. Tool input cut off by the output cap comes back
unparsed, as :class:`~agentrt.types.ToolCall` documents, rather than as an error.
Usage ``input_tokens`` includes cache reads and writes; ``cached_tokens`` is the
cache reads.

Extended thinking (``params={"thinking": {...}}``): thinking is not part of the
text, but the thinking blocks (with their signatures) that led to tool calls are
kept in ``ToolCall.provider_data`` of the call each came before, and sent back,
unchanged and in their places, in the next turn, as the API requires: the first
call's at the start of the turn, the others' (interleaved thinking) just before
their ``tool_use`` blocks. Anthropic refuses a forced ``tool_choice`` (``any``,
``tool``; OpenAI's ``required`` or a named tool) with thinking on, so it is sent
as ``auto`` with a warning (a ``ProviderBadRequest`` with
``options.drop_params: false``).

Anthropic has no embeddings API: :meth:`AnthropicClient.embed` raises
``ProviderBadRequest``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import orjson

from agentrt.errors import ConfigError, ConfigProblem, ProviderBadRequest, ProviderError
from agentrt.providers._anthropic_wire import (
    CONTROLLED,
    DEFAULT_MAX_TOKENS,
    STATUS_OF_ERROR_TYPE,
    THINKING_BLOCKS,
    JsonOutput,
    OutputTool,
    count_usage,
    finish_reason,
    messages_body,
    read_anthropic_error,
    usage_of,
)
from agentrt.providers._base import HttpProviderClient
from agentrt.providers._errors import ErrorReader, malformed, stream_ended_early
from agentrt.providers._params import ParamGuard, read_drop_params
from agentrt.providers._toolcalls import ToolCallAssembler
from agentrt.types import (
    ChatRequest,
    EmbeddingRequest,
    ProviderEmbeddings,
    ProviderResponse,
    ProviderStreamEvent,
    StreamFinish,
    TextDelta,
    ToolCall,
)

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["API_VERSION", "AnthropicClient"]

API_VERSION = "2023-06-01"
_THINKING_TYPES = ("thinking", "redacted_thinking")
_REFUSED = "Anthropic's safety classifier stopped the answer (stop_reason: refusal)"


def _keep_thinking(calls: list[ToolCall], sequence: Iterable[dict[str, Any] | None]) -> None:
    """Keep the thinking behind tool calls with the call each block came before: the next turn sends
    it back, unchanged and in its place, as the API requires.

    ``sequence`` is the answer's thinking blocks in order, with None where each tool call came.
    """
    if not calls:
        return
    groups: list[list[dict[str, Any]]] = [[]]
    for item in sequence:
        if item is None:
            groups.append([])
        else:
            groups[-1].append(item)
    trailing = groups.pop()  # thinking after the last call: keep it, with that call
    groups[-1].extend(trailing)
    for call, blocks in zip(calls, groups, strict=False):
        if blocks:
            call.provider_data = {**(call.provider_data or {}), THINKING_BLOCKS: blocks}


class AnthropicClient(HttpProviderClient):
    """A client of the Anthropic Messages API for one configured provider."""

    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"
    option_names = frozenset({"drop_params", "json_output", "max_tokens"})

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name, section)
        mode = self.options.get("json_output", "native")
        max_tokens = self.options.get("max_tokens", DEFAULT_MAX_TOKENS)
        problems = []
        if mode not in ("native", "tool"):
            problems.append(
                ConfigProblem(f"providers.{name}.options.json_output", f"expected native or tool, got {mode!r}")
            )
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            problems.append(ConfigProblem(f"providers.{name}.options.max_tokens", "expected a whole number ≥ 1"))
        if problems:
            raise ConfigError(problems)
        self._json_output: JsonOutput = mode
        self._max_tokens: int = max_tokens
        self._guard = ParamGuard(name, drop_params=read_drop_params(name, self.options), controlled=CONTROLLED)

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def _error_reader(self) -> ErrorReader:
        return read_anthropic_error

    def _body(self, request: ChatRequest) -> tuple[dict[str, Any], OutputTool | None]:
        return messages_body(
            request, guard=self._guard, default_max_tokens=self._max_tokens, json_output=self._json_output
        )

    # --- chat -----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        """One message (``POST /v1/messages``)."""
        body, output = self._body(request)
        data = await self._http.request_json("POST", "/v1/messages", model=request.model, body=body)
        return self._response(data, request.model, output)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderStreamEvent]:
        """Stream one message; the last event is one ``StreamFinish``."""
        body, output = self._body(request)
        body["stream"] = True
        model = request.model
        answered_model = model
        tool_calls = ToolCallAssembler(provider=self.name, model=model)
        call_of_block: dict[int, int] = {}  # content block index -> tool call index
        output_blocks: set[int] = set()  # blocks of the forced output tool: their JSON is the text
        held: list[str] = []  # a wrapped JSON answer is only sent whole, once unwrapped
        thinking: dict[int, dict[str, Any]] = {}  # content block index -> thinking block, rebuilt
        counts: dict[str, int] = {}
        reason: str | None = None
        done = False
        async with aclosing(self._http.stream_events("/v1/messages", model=model, body=body)) as events:
            async for event in events:
                if done:
                    continue  # read to the end of the body, so the connection can be reused
                data = self._decode(event.data, model)
                kind = data.get("type")
                if kind == "content_block_delta":
                    index = int(data.get("index", 0))
                    delta = data.get("delta") or {}
                    delta_type = delta.get("type")
                    if delta_type == "text_delta":
                        if delta.get("text"):
                            yield TextDelta(delta["text"])
                    elif delta_type == "input_json_delta":
                        fragment = delta.get("partial_json") or ""
                        if not fragment:
                            continue
                        if index in output_blocks:
                            if output is not None and output.wrapped:
                                held.append(fragment)
                            else:
                                yield TextDelta(fragment)
                        elif index in call_of_block:
                            yield tool_calls.add(call_of_block[index], arguments=fragment)
                    elif delta_type == "thinking_delta" and index in thinking:
                        thinking[index]["thinking"] += delta.get("thinking") or ""
                    elif delta_type == "signature_delta" and index in thinking:
                        thinking[index]["signature"] = delta.get("signature") or ""
                elif kind == "content_block_start":
                    index = int(data.get("index", 0))
                    block = data.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        if output is not None and block.get("name") == output.name:
                            output_blocks.add(index)
                        else:
                            call_of_block[index] = len(call_of_block)
                            yield tool_calls.add(call_of_block[index], id=block.get("id"), name=block.get("name"))
                    elif block.get("type") == "text" and block.get("text"):
                        yield TextDelta(block["text"])
                    elif block.get("type") in _THINKING_TYPES:
                        thinking[index] = dict(block)
                elif kind == "message_start":
                    message = data.get("message") or {}
                    answered_model = message.get("model") or answered_model
                    count_usage(message.get("usage"), counts)
                elif kind == "message_delta":
                    reason = finish_reason((data.get("delta") or {}).get("stop_reason")) or reason
                    count_usage(data.get("usage"), counts)
                elif kind == "message_stop":
                    done = True
                elif kind == "error":
                    raise self._stream_error(data, event.data, model)
                # ping and content_block_stop carry nothing to report
        if not done:
            raise stream_ended_early(self.name, model)
        if held:
            yield TextDelta(self._unwrap("".join(held), model))
        if output_blocks and not call_of_block:
            reason = "stop"  # the forced tool was the answer, not a call for the caller to make
        calls = tool_calls.finish(cut_off=reason == "length")
        _keep_thinking(calls, [thinking.get(i) for i in sorted({*thinking, *call_of_block})])
        yield StreamFinish(
            finish_reason=reason,
            usage=usage_of(counts),
            tool_calls=calls,
            model=answered_model,
            refusal=_REFUSED if reason == "refusal" else None,
        )

    def _stream_error(self, data: dict[str, Any], raw: bytes, model: str) -> ProviderError:
        error = data.get("error")
        kind = error.get("type") if isinstance(error, dict) else None
        return self._http.error(STATUS_OF_ERROR_TYPE.get(str(kind), 500), raw, model=model)

    def _unwrap(self, text: str, model: str) -> str:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise malformed(self.name, model, "the JSON answer is not valid JSON") from None
        if not isinstance(value, dict):
            raise malformed(self.name, model, "the JSON answer is not an object")
        return orjson.dumps(value.get("value")).decode()

    def _response(self, data: Any, model: str, output: OutputTool | None) -> ProviderResponse:
        try:
            blocks = [block for block in data["content"] if isinstance(block, dict)]
        except (KeyError, TypeError):
            raise malformed(self.name, model, "no content[] in the answer") from None
        counts: dict[str, int] = {}
        count_usage(data.get("usage"), counts)
        texts: list[str] = []
        answer: str | None = None
        calls: list[ToolCall] = []
        thinking_and_calls: list[dict[str, Any] | None] = []  # in order; None where a call came
        for block in blocks:
            kind = block.get("type")
            if kind in _THINKING_TYPES:
                thinking_and_calls.append(block)
            elif kind == "text":
                texts.append(str(block.get("text") or ""))
            elif kind == "tool_use":
                arguments = block.get("input")
                name = str(block.get("name") or "")
                if not isinstance(arguments, dict) or not name:
                    raise malformed(self.name, model, "a tool_use block without a name or an input object")
                if output is not None and name == output.name:
                    answer = orjson.dumps(arguments.get("value") if output.wrapped else arguments).decode()
                else:
                    calls.append(
                        ToolCall(id=str(block.get("id") or f"call_{len(calls)}"), name=name, arguments=arguments)
                    )
                    thinking_and_calls.append(None)
        _keep_thinking(calls, thinking_and_calls)
        reason = finish_reason(data.get("stop_reason"))
        if answer is not None and not calls:
            reason = "stop"
        return ProviderResponse(
            text=answer if answer is not None else "".join(texts),
            tool_calls=calls,
            finish_reason=reason,
            usage=usage_of(counts),
            model=data.get("model") or model,
            raw=data,
            refusal=_REFUSED if reason == "refusal" else None,
        )

    # --- embeddings and check ---------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        """Anthropic has no embeddings API: always raises ``ProviderBadRequest``."""
        raise ProviderBadRequest(
            f"{self.name}: Anthropic has no embeddings API; serve embeddings models "
            "from another provider (kind openai, google or local)",
            provider=self.name,
            model=request.model,
        )

    async def check(self) -> str:
        """List the models (``GET /v1/models``): proves the endpoint answers and accepts the key."""
        data = await self._http.request_json("GET", "/v1/models", model=None)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise malformed(self.name, None, "no data[] in the model list")
        return f"{self._http.display_url}: {len(models)} models available"
