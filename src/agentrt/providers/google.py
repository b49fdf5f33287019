"""The ``google`` kind: the Gemini API (``generateContent``, ``streamGenerateContent``, embeddings).

``base_url`` defaults to ``https://generativelanguage.googleapis.com``;
``/v1beta/models/<model>:<method>`` is appended (the version from the section's
``options.api_version``, default ``v1beta``). The key goes in the
``x-goog-api-key`` header, never in the URL.

How a :class:`~agentrt.types.ChatRequest` maps to the wire:

- system messages → ``systemInstruction``; user → role ``user``, assistant →
  role ``model``; consecutive turns of one role are merged;
- assistant tool calls → ``functionCall`` parts (with the ``thoughtSignature``
  kept in ``ToolCall.provider_data``, which Gemini 3 requires back); tool results
  → ``functionResponse`` parts, which need the tool's name (``Message.name``, or
  found from the matching call earlier in the conversation); a result that is a
  JSON object is sent as is, any other text as ``{"output": text}``;
- images → ``inlineData`` (bytes, ``data:`` URLs) or ``fileData`` (URLs);
- tools → ``functionDeclarations`` with ``parametersJsonSchema``; ``tool_choice``
  ``"auto"``/``"none"``/``"required"`` → ``AUTO``/``NONE``/``ANY``, a tool's
  name → ``ANY`` limited to it, a dict → the whole ``toolConfig``;
- ``response_format`` → ``responseMimeType: application/json`` and, with a
  schema, ``responseJsonSchema``; ``max_output_tokens``, ``temperature``,
  ``top_p``, ``stop`` → ``generationConfig`` fields;
- ``params`` go into ``generationConfig`` unchanged, except the request's own
  fields, which go at the top level: ``safetySettings``, ``cachedContent``,
  ``toolConfig``, ``labels``, ``serviceTier``; a ``generationConfig`` dict is
  merged into ours, a ``tools`` list is added to ours (e.g.
  ``[{"googleSearch": {}}]``). They may not set the model, the ``contents``, the
  ``systemInstruction`` or ``stream``, nor raise the output cap (see
  :mod:`agentrt.providers._params`); ``generationConfig.maxOutputTokens`` may
  only lower it, and ``candidateCount`` above 1 is refused.

OpenAI-only parameters (the gateway passes what OpenAI clients send) are
translated where Gemini has an equivalent: ``stop`` → ``stopSequences``,
``seed``, ``frequency_penalty``/``presence_penalty`` →
``frequencyPenalty``/``presencePenalty``, ``logprobs``/``top_logprobs`` →
``responseLogprobs``/``logprobs``, ``service_tier`` → ``serviceTier``,
``reasoning_effort`` → ``thinkingConfig.thinkingLevel``; ``n: 1`` is dropped. The
others (``logit_bias``, ``user``, ``parallel_tool_calls``, ``store``,
``metadata``, ...) are dropped with a warning, or refused with
``options.drop_params: false``; an OpenAI ``response_format`` in params is
refused: the call's own ``response_format`` is the one agentrt translates.

Gemini gives function calls no id (or not always): calls without one get a
stable synthetic id (``gemini_call_<n>_<hash>``), which is not sent back.
Thought parts (``thought: true``) are left out of the text. ``finish_reason``:
``STOP`` → ``stop`` (``tool_calls`` when the answer has calls), ``MAX_TOKENS`` →
``length``, the safety, recitation, blocklist and language reasons →
``content_filter``, any other (``MALFORMED_FUNCTION_CALL``, ``OTHER``, ...) →
``stop`` (or ``tool_calls``). A ``thoughtSignature`` (Gemini 3) on a function
call stays with that call and goes back with it, unchanged, in the next turn.
A stream has no end marker: it ended normally if a chunk carried a
``finishReason``, else it was cut off (``ProviderUnavailable``).

Embeddings use ``batchEmbedContents``, one request per input (``params`` such as
``taskType`` or ``outputDimensionality`` go into each); when the answer carries
no usage, the input tokens are estimated as a quarter of the characters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import orjson

from agentrt.errors import ConfigError, ConfigProblem, ProviderError
from agentrt.providers._base import HttpProviderClient, estimate_tokens
from agentrt.providers._errors import ErrorReader, malformed, stream_ended_early
from agentrt.providers._google_wire import (
    CONTROLLED,
    THOUGHT_SIGNATURE,
    finish_reason,
    generate_body,
    read_google_error,
    synthetic_id,
    usage_of,
)
from agentrt.providers._params import CHAT_ONLY, ParamGuard, read_drop_params
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
    Usage,
)

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["GoogleClient"]

_STATUS_OF_CODE = {"RESOURCE_EXHAUSTED": 429, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403}


class GoogleClient(HttpProviderClient):
    """A client of the Gemini API for one configured provider."""

    kind = "google"
    default_base_url = "https://generativelanguage.googleapis.com"
    option_names = frozenset({"api_version", "drop_params"})

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name, section)
        version = self.options.get("api_version", "v1beta")
        if not isinstance(version, str) or not version or "/" in version:
            raise ConfigError(
                [ConfigProblem(f"providers.{name}.options.api_version", "expected a version such as v1beta")]
            )
        self._version = version
        self._guard = ParamGuard(name, drop_params=read_drop_params(name, self.options), controlled=CONTROLLED)

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        return {"x-goog-api-key": api_key} if api_key else {}

    def _error_reader(self) -> ErrorReader:
        return read_google_error

    def _path(self, model: str, method: str) -> str:
        # "models/x" and "tunedModels/x" are full resource names already.
        resource = model if "/" in model else f"models/{model}"
        return f"/{self._version}/{resource}:{method}"

    # --- chat -----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        """One answer (``POST .../models/<model>:generateContent``)."""
        body = generate_body(request, provider=self.name, guard=self._guard)
        path = self._path(request.model, "generateContent")
        data = await self._http.request_json("POST", path, model=request.model, body=body)
        if not isinstance(data, dict):
            raise malformed(self.name, request.model, "the answer is not a JSON object")
        text: list[str] = []
        calls: list[ToolCall] = []
        reason = self._read_chunk(data, request.model, text, calls)
        return ProviderResponse(
            text="".join(text),
            tool_calls=calls,
            finish_reason=finish_reason(reason, has_calls=bool(calls)),
            usage=usage_of(data.get("usageMetadata")),
            model=data.get("modelVersion") or request.model,
            raw=data,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderStreamEvent]:
        """Stream one answer (``:streamGenerateContent?alt=sse``); the last event is one ``StreamFinish``."""
        body = generate_body(request, provider=self.name, guard=self._guard)
        path = self._path(request.model, "streamGenerateContent") + "?alt=sse"
        model = request.model
        answered_model = model
        tool_calls = ToolCallAssembler(provider=self.name, model=model)
        calls_seen = 0
        usage = Usage()
        reason: str | None = None
        async with aclosing(self._http.stream_events(path, model=model, body=body)) as events:
            async for event in events:
                chunk = self._decode(event.data, model)
                if "error" in chunk:
                    raise self._stream_error(chunk, event.data, model)
                answered_model = chunk.get("modelVersion") or answered_model
                if chunk.get("usageMetadata"):
                    usage = usage_of(chunk["usageMetadata"])  # cumulative: the last one is the total
                text: list[str] = []
                calls: list[ToolCall] = []
                chunk_reason = self._read_chunk(chunk, model, text, calls, first_index=calls_seen)
                reason = chunk_reason or reason
                for piece in text:
                    yield TextDelta(piece)
                for call in calls:
                    # Gemini sends each call whole: one delta carries all of its arguments.
                    yield tool_calls.add(
                        calls_seen,
                        id=call.id,
                        name=call.name,
                        arguments=orjson.dumps(call.arguments).decode(),
                        provider_data=call.provider_data,
                    )
                    calls_seen += 1
        if reason is None:
            raise stream_ended_early(self.name, model)
        finished = tool_calls.finish()
        yield StreamFinish(
            finish_reason=finish_reason(reason, has_calls=bool(finished)),
            usage=usage,
            tool_calls=finished,
            model=answered_model,
        )

    def _read_chunk(
        self, data: dict[str, Any], model: str, text: list[str], calls: list[ToolCall], *, first_index: int = 0
    ) -> str | None:
        """Collect the text and calls of a response (or stream chunk); return its finish reason."""
        candidates = data.get("candidates")
        if not candidates:
            feedback = data.get("promptFeedback") or {}
            # A blocked prompt gets no candidates, only the reason it was blocked.
            return "SAFETY" if feedback.get("blockReason") else None
        try:
            candidate = candidates[0]
            parts = (candidate.get("content") or {}).get("parts") or ()
        except (TypeError, AttributeError, KeyError, IndexError):
            raise malformed(self.name, model, "no candidates[0].content in the answer") from None
        response_id = str(data.get("responseId") or "")
        for part in parts:
            if not isinstance(part, dict) or part.get("thought"):
                continue
            if "text" in part:
                if part["text"]:
                    text.append(str(part["text"]))
            elif "functionCall" in part:
                function = part["functionCall"] or {}
                name = function.get("name")
                arguments = function.get("args") or {}
                if not name or not isinstance(arguments, dict):
                    raise malformed(self.name, model, "a functionCall without a name or an args object")
                index = first_index + len(calls)
                signature = part.get(THOUGHT_SIGNATURE)
                calls.append(
                    ToolCall(
                        id=function.get("id") or synthetic_id(response_id, index, name, arguments),
                        name=name,
                        arguments=arguments,
                        provider_data={THOUGHT_SIGNATURE: signature} if signature else None,
                    )
                )
        reason = candidate.get("finishReason")
        return str(reason) if reason else None

    def _decode(self, data: bytes, model: str) -> dict[str, Any]:
        # Gemini may frame an SSE event's object in a one-element array.
        if data.lstrip().startswith(b"["):
            try:
                items = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise malformed(self.name, model, "a stream event is not valid JSON") from None
            if isinstance(items, list) and len(items) == 1 and isinstance(items[0], dict):
                return items[0]
            raise malformed(self.name, model, "a stream event is not a JSON object")
        return super()._decode(data, model)

    def _stream_error(self, chunk: dict[str, Any], raw: bytes, model: str) -> ProviderError:
        error = chunk.get("error")
        status = 500
        if isinstance(error, dict):
            code = error.get("code")
            status = (
                code if isinstance(code, int) and code >= 400 else _STATUS_OF_CODE.get(str(error.get("status")), 500)
            )
        return self._http.error(status, raw, model=model)

    # --- embeddings and check ---------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        """Embed ``request.inputs`` with ``:batchEmbedContents``; one vector per input, in order."""
        resource = request.model if "/" in request.model else f"models/{request.model}"
        params = dict(request.params)
        if params:
            self._guard.drop(params, CHAT_ONLY, model=request.model, why=" in an embeddings request", always=True)
        requests = [{"model": resource, "content": {"parts": [{"text": text}]}, **params} for text in request.inputs]
        body = {"requests": requests}
        data = await self._http.request_json(
            "POST", self._path(request.model, "batchEmbedContents"), model=request.model, body=body
        )
        try:
            vectors = [[float(x) for x in item["values"]] for item in data["embeddings"]]
        except (KeyError, TypeError, ValueError):
            raise malformed(self.name, request.model, "no embeddings[].values in the answer") from None
        if len(vectors) != len(request.inputs):
            raise malformed(self.name, request.model, f"{len(vectors)} vectors for {len(request.inputs)} inputs")
        metadata = data.get("usageMetadata") if isinstance(data, dict) else None
        if isinstance(metadata, dict) and metadata.get("promptTokenCount") is not None:
            input_tokens = int(metadata["promptTokenCount"])
        else:
            input_tokens = sum(estimate_tokens(text) for text in request.inputs)
        return ProviderEmbeddings(
            vectors=vectors, usage=Usage(input_tokens=input_tokens), model=request.model, raw=data
        )

    async def check(self) -> str:
        """List the models (``GET /<version>/models``): proves the endpoint answers and accepts the key."""
        data = await self._http.request_json("GET", f"/{self._version}/models", model=None)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise malformed(self.name, None, "no models[] in the model list")
        return f"{self._http.display_url}: {len(models)} models available"
