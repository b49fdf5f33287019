"""The ``openai`` kind: OpenAI Chat Completions and Embeddings, and every compatible endpoint.

``base_url`` (default ``https://api.openai.com/v1``) may point at any server
that speaks the OpenAI API (DeepSeek, xAI, Groq, Together, vLLM, Ollama, ...);
without an ``api_key`` no ``Authorization`` header is sent, as local servers
expect.

How a :class:`~agentrt.types.ChatRequest` maps to the wire:

- messages as they are; images as ``image_url`` parts (bytes become ``data:`` URLs,
  ``ImagePart.detail`` is kept);
  assistant tool calls as ``tool_calls`` with JSON-text arguments; tool results
  as ``role: tool`` messages with their ``tool_call_id``;
- ``tools`` as function tools (``ToolSpec.strict`` as ``function.strict``); ``tool_choice`` ``"auto"``, ``"none"``,
  ``"required"``, a tool's name (forces that tool) or a dict sent as given;
- ``response_format`` with a schema as ``json_schema`` (``strict`` as asked),
  without one as ``json_object`` (OpenAI then wants the word "JSON" in the prompt);
- ``max_output_tokens`` as ``max_completion_tokens``, never also ``max_tokens``
  (OpenAI refuses both at once); an endpoint that knows only ``max_tokens``
  (some OpenAI-compatible servers refuse ``max_completion_tokens`` as an unknown
  field) gets that name with the provider option
  ``max_tokens_field: max_tokens``;
- ``stop``, ``temperature``, ``top_p`` as named; ``params`` merged into the body
  last, after the checks of :mod:`agentrt.providers._params` (no override of the
  model, the messages, ``stream`` or the output cap; ``n`` above 1 refused, as
  one call returns one answer);
- streaming adds ``stream_options: {include_usage: true}`` so the last chunk
  carries the usage (a ``stream_options`` param may add to it, never turn it
  off); a plain call drops a ``stream_options`` param, which OpenAI only takes
  with ``stream``.

Provider options: ``max_tokens_field`` (above) and ``drop_params`` (see
:mod:`agentrt.providers._params`); any other is refused as a typo.

``finish_reason`` is OpenAI's own vocabulary (``stop``, ``length``,
``tool_calls``, ``content_filter``), which the other clients map to as well,
plus ``refusal`` when the model refused: ``message.refusal`` (streamed as
``delta.refusal``, reported as ``RefusalDelta`` events) is the refusal, not
text. Tool calls cut off by the output cap (``length``) come back unparsed, as
:class:`~agentrt.types.ToolCall` documents, rather than as an error.
"""

from __future__ import annotations

import array
import base64
import re
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import orjson

from agentrt.errors import ConfigError, ConfigProblem, ProviderError
from agentrt.providers._base import HttpProviderClient
from agentrt.providers._errors import ErrorInfo, ErrorReader, malformed, parse_duration_hint, stream_ended_early
from agentrt.providers._media import data_url
from agentrt.providers._params import CHAT_ONLY, ParamGuard, read_drop_params
from agentrt.providers._toolcalls import ToolCallAssembler, read_tool_call
from agentrt.types import (
    ChatRequest,
    EmbeddingRequest,
    ImagePart,
    Message,
    ProviderEmbeddings,
    ProviderResponse,
    ProviderStreamEvent,
    RefusalDelta,
    StreamFinish,
    TextDelta,
    ToolSpec,
    Usage,
)

if TYPE_CHECKING:
    from agentrt.config import ProviderSection

__all__ = ["OpenAIClient"]

_CAP_FIELDS = ("max_completion_tokens", "max_tokens")

_TOOL_CHOICES = frozenset({"auto", "none", "required"})
# A full context window as OpenAI says it, and as compatible servers do (vLLM, DeepSeek, Mistral, llama.cpp).
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_CONTEXT_WORDS = ("maximum context length", "context length exceeded", "exceeds the available context size")
_RETRY_HINT = re.compile(r"try again in\s+(\S+)", re.IGNORECASE)
# Mid-stream errors come without a status: the error's type says which one it would have been.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "context_length_exceeded": 400,
}


class OpenAIClient(HttpProviderClient):
    """A client of the OpenAI Chat Completions API (or a compatible one) for one configured provider."""

    kind = "openai"
    default_base_url = "https://api.openai.com/v1"
    option_names = frozenset({"drop_params", "max_tokens_field"})

    def __init__(self, name: str, section: ProviderSection) -> None:
        super().__init__(name, section)
        field = self.options.get("max_tokens_field", "max_completion_tokens")
        if field not in _CAP_FIELDS:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"providers.{name}.options.max_tokens_field",
                        f"expected max_completion_tokens (OpenAI) or max_tokens (servers that know only that "
                        f"name), got {field!r}",
                    )
                ]
            )
        self._cap_field: str = field
        self._guard = ParamGuard(
            name, drop_params=read_drop_params(name, self.options), controlled=("model", "messages", "stream")
        )

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        params, cap = self._guard.split(request.params, request.max_output_tokens, model=request.model)
        if not stream and "stream_options" in params:
            self._guard.drop(params, ("stream_options",), model=request.model, why=" without stream")
        return chat_body(request, params=params, max_output_tokens=cap, cap_field=self._cap_field)

    def _auth_headers(self, api_key: str | None) -> Mapping[str, str]:
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def _error_reader(self) -> ErrorReader:
        return read_openai_error

    def _path(self, operation: str, model: str | None) -> str:
        """The path of ``/chat/completions``, ``/embeddings`` or ``/models`` (Azure names deployments in it)."""
        return operation

    # --- chat -----------------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        """One chat completion (``POST /chat/completions``)."""
        body = self._body(request, stream=False)
        path = self._path("/chat/completions", request.model)
        data = await self._http.request_json("POST", path, model=request.model, body=body)
        return self._response(data, request.model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ProviderStreamEvent]:
        """Stream one chat completion; the last event is one ``StreamFinish``."""
        body = self._body(request, stream=True)
        body["stream"] = True
        options = body.get("stream_options")
        # include_usage is agentrt's: without the usage a stream could not be accounted for.
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        model = request.model
        answered_model = model
        tool_calls = ToolCallAssembler(provider=self.name, model=model)
        usage = Usage()
        finish_reason: str | None = None
        refusal: list[str] = []
        done = False
        path = self._path("/chat/completions", model)
        async with aclosing(self._http.stream_events(path, model=model, body=body)) as events:
            async for event in events:
                if done:
                    continue  # read to the end of the body, so the connection can be reused
                if event.data == b"[DONE]":
                    done = True
                    continue
                chunk = self._decode(event.data, model)
                if "error" in chunk:
                    raise self._stream_error(chunk, event.data, model)
                answered_model = chunk.get("model") or answered_model
                if chunk.get("usage"):
                    usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    if choice.get("index", 0) != 0:
                        continue  # one answer per call (n > 1 is refused): never interleave another choice
                    delta = choice.get("delta") or {}
                    content = delta.get("content")
                    if content:
                        yield TextDelta(content)
                    refused = delta.get("refusal")
                    if refused:
                        refusal.append(refused)
                        yield RefusalDelta(refused)
                    for call in delta.get("tool_calls") or ():
                        function = call.get("function") or {}
                        yield tool_calls.add(
                            int(call.get("index", 0)),
                            id=call.get("id"),
                            name=function.get("name"),
                            arguments=function.get("arguments") or "",
                        )
                    if choice.get("finish_reason"):
                        finish_reason = _finish_reason(choice["finish_reason"])
        if not done:
            raise stream_ended_early(self.name, model)
        yield StreamFinish(
            finish_reason="refusal" if refusal else finish_reason,
            usage=usage,
            tool_calls=tool_calls.finish(cut_off=finish_reason == "length"),
            model=answered_model,
            refusal="".join(refusal) if refusal else None,
        )

    def _stream_error(self, chunk: dict[str, Any], raw: bytes, model: str) -> ProviderError:
        error = chunk.get("error")
        status = 500
        if isinstance(error, dict):  # the type says the status; the code only refines it
            kinds = (str(error.get("type")), str(error.get("code")))
            status = next((_STATUS_OF_TYPE[kind] for kind in kinds if kind in _STATUS_OF_TYPE), 500)
        return self._http.error(status, raw, model=model)

    def _response(self, data: Any, model: str) -> ProviderResponse:
        try:
            choice = data["choices"][0]
            message = choice["message"]
            wire_calls = [(call.get("id"), call["function"]) for call in message.get("tool_calls") or ()]
            names = [str(function["name"]) for _, function in wire_calls]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise malformed(self.name, model, "no choices[0].message in the answer") from None
        reason = _finish_reason(choice.get("finish_reason"))
        calls = [
            read_tool_call(
                function.get("arguments") or "",
                id=call_id or f"call_{index}",
                name=name,
                provider=self.name,
                model=model,
                cut_off=reason == "length",
            )
            for index, ((call_id, function), name) in enumerate(zip(wire_calls, names, strict=True))
        ]
        refusal = message.get("refusal") or None
        return ProviderResponse(
            text=message.get("content") or "",
            tool_calls=calls,
            finish_reason="refusal" if refusal else reason,
            usage=_usage(data.get("usage") or {}),
            model=data.get("model") or model,
            raw=data,
            refusal=refusal,
        )

    # --- embeddings and check ---------------------------------------------------------

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        """Embed ``request.inputs`` (``POST /embeddings``); one vector per input, in order."""
        body: dict[str, Any] = {"model": request.model, "input": request.inputs, "encoding_format": "float"}
        if request.params:
            params = dict(request.params)
            self._guard.drop(params, CHAT_ONLY, model=request.model, why=" in an embeddings request", always=True)
            body.update(params)
        path = self._path("/embeddings", request.model)
        data = await self._http.request_json("POST", path, model=request.model, body=body)
        try:
            items = sorted(data["data"], key=lambda item: item.get("index", 0))
            vectors = [_vector(item["embedding"]) for item in items]
        except (KeyError, TypeError, ValueError):
            raise malformed(self.name, request.model, "no data[].embedding in the answer") from None
        if len(vectors) != len(request.inputs):
            raise malformed(self.name, request.model, f"{len(vectors)} vectors for {len(request.inputs)} inputs")
        usage = data.get("usage") or {}
        return ProviderEmbeddings(
            vectors=vectors,
            usage=Usage(input_tokens=int(usage.get("prompt_tokens") or 0)),
            model=data.get("model") or request.model,
            raw=data,
        )

    async def check(self) -> str:
        """List the models (``GET /models``): proves the endpoint answers and accepts the key."""
        data = await self._http.request_json("GET", self._path("/models", None), model=None)
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list):
            raise malformed(self.name, None, "no data[] in the model list")
        return f"{self._http.display_url}: {len(models)} models available"


# --- the request body ------------------------------------------------------------------


def chat_body(
    request: ChatRequest,
    *,
    params: Mapping[str, Any] | None = None,
    max_output_tokens: int | None = None,
    cap_field: str = "max_completion_tokens",
) -> dict[str, Any]:
    """The Chat Completions body for ``request``; ``params`` (checked ones) merged last.

    Without ``params`` the request's own are merged as they are, and its
    ``max_output_tokens`` is the cap.
    """
    if params is None:
        params, max_output_tokens = request.params, request.max_output_tokens
    body: dict[str, Any] = {"model": request.model, "messages": [_message(m) for m in request.messages]}
    if request.tools:
        body["tools"] = [{"type": "function", "function": _function(t)} for t in request.tools]
    if request.tool_choice is not None:
        choice = request.tool_choice
        if isinstance(choice, str) and choice not in _TOOL_CHOICES:
            body["tool_choice"] = {"type": "function", "function": {"name": choice}}
        else:
            body["tool_choice"] = choice
    format_ = request.response_format
    if format_ is not None:
        if format_.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": format_.name, "schema": format_.schema, "strict": format_.strict},
            }
        else:
            body["response_format"] = {"type": "json_object"}
    if max_output_tokens is not None:
        body[cap_field] = max_output_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = request.stop
    body.update(params)
    return body


def _function(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    if tool.strict is not None:
        function["strict"] = tool.strict
    return function


def _message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
                }
                for call in message.tool_calls
            ]
        return out
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            image: dict[str, Any] = {"url": data_url(part)}
            if part.detail is not None:
                image["detail"] = part.detail
            parts.append({"type": "image_url", "image_url": image})
        else:
            parts.append({"type": "text", "text": part.text})
    return {"role": message.role, "content": parts}


# --- the answer ------------------------------------------------------------------------


def _usage(usage: Mapping[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


def _finish_reason(reason: Any) -> str | None:
    if reason is None:
        return None
    return "tool_calls" if reason == "function_call" else str(reason)


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # encoding_format "base64": little-endian float32s
        floats = array.array("f", base64.b64decode(value))
        if sys.byteorder != "little":
            floats.byteswap()
        return floats.tolist()
    return [float(x) for x in value]


def read_openai_error(body: Any) -> ErrorInfo | None:
    """OpenAI's ``{"error": {"message", "type", "param", "code"}}`` (and the flat shape of some servers)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error", body)
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict) or "message" not in error:
        return None
    message = str(error.get("message") or "")
    code = error.get("code") or error.get("type")
    code_text = str(code) if code is not None else None
    kinds = {str(error.get("code")), str(error.get("type"))}
    lowered = message.lower()
    context = not kinds.isdisjoint(_CONTEXT_CODES) or any(words in lowered for words in _CONTEXT_WORDS)
    hint = _RETRY_HINT.search(message)
    return ErrorInfo(
        message=message,
        code=code_text,
        context_length=context,
        retry_after=parse_duration_hint(hint.group(1)) if hint else None,
        quota_exhausted="insufficient_quota" in kinds,  # a 429 that waiting does not end: billing
    )
