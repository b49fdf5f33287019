"""OpenAI requests to agentrt's call types, and agentrt's results to OpenAI's response bodies.

Responses are built as plain dicts and serialized with orjson: on the hot
path that costs a few microseconds, where model instances would cost tens.
Their shapes are the response models of :mod:`agentrt.server.openai_models`.
"""

from __future__ import annotations

import array
import base64
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from agentrt.server.errors import HttpError
from agentrt.server.openai_models import (
    AssistantMessage,
    ChatCompletionRequest,
    EmbeddingRequest,
    ImageUrlPart,
    JsonObjectFormat,
    JsonSchemaFormat,
    NamedToolChoice,
    SystemMessage,
    TextPart,
    ToolCallParam,
    ToolMessage,
    UserMessage,
)
from agentrt.server.reasoning import THINKING_BLOCKS, decode_call_id, encode_call_id, thinking_blocks
from agentrt.types import (
    Completion,
    ContentPart,
    Embeddings,
    ImagePart,
    Message,
    ResponseFormat,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from agentrt.types import TextPart as AgentTextPart

__all__ = [
    "ChatCall",
    "ChunkWriter",
    "chat_call",
    "completion_body",
    "embedding_body",
    "embedding_call",
    "new_completion_id",
    "usage_body",
]

_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
_EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

# Completion ids: a random prefix per process and a counter, unique without a urandom call each.
_ID_PREFIX = os.urandom(6).hex()
_id_counter = 0


def new_completion_id(kind: str = "chatcmpl") -> str:
    """A fresh id such as ``chatcmpl-1a2b3c4d5e6f-1f``, unique across processes."""
    global _id_counter
    _id_counter += 1
    return f"{kind}-{_ID_PREFIX}{_id_counter:x}"


@dataclass(slots=True)
class ChatCall:
    """What ``rt.calls.generate``/``stream`` is given for one chat completion request."""

    model: str
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False


def chat_call(request: ChatCompletionRequest) -> ChatCall:
    """The call a validated request asks for; ``HttpError`` 400 for what agentrt cannot pass on."""
    messages = [_message(index, item) for index, item in enumerate(request.messages)]
    options: dict[str, Any] = {}
    extra = request.model_extra
    if extra:
        # As a mapping, never as keywords: a field named like an agentrt option (fallbacks,
        # timeout, principal) is the model's parameter, not a way to change how the call runs.
        options["params"] = dict(extra)
    if request.tools:
        options["tools"] = [
            ToolSpec(
                t.function.name,
                t.function.description or "",
                t.function.parameters or dict(_EMPTY_OBJECT_SCHEMA),
                t.function.strict,
            )
            for t in request.tools
        ]
    if request.tool_choice is not None:
        options["tool_choice"] = _tool_choice(request.tool_choice)
    response_format = _response_format(request.response_format)
    if response_format is not None:
        options["response_format"] = response_format
    max_tokens = request.max_completion_tokens if request.max_completion_tokens is not None else request.max_tokens
    if max_tokens is not None:
        options["max_output_tokens"] = max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p  # the pipeline takes top_p and stop from the model parameters
    if request.stop is not None:
        options["stop"] = [request.stop] if isinstance(request.stop, str) else list(request.stop)
    if request.stream_options is not None and not request.stream:
        raise HttpError(
            400,
            "stream_options: only allowed with stream: true",
            code="invalid_request",
            param="stream_options",
        )
    both = request.max_tokens is not None and request.max_completion_tokens is not None
    if both and request.max_tokens != request.max_completion_tokens:
        raise HttpError(
            400,
            "max_tokens and max_completion_tokens are two names of one limit: send one of them "
            "(max_completion_tokens is OpenAI's current name)",
            code="invalid_request",
            param="max_tokens",
        )
    include_usage = request.stream_options is not None and request.stream_options.include_usage
    return ChatCall(request.model, messages, options, request.stream, include_usage)


def _message(index: int, item: SystemMessage | UserMessage | AssistantMessage | ToolMessage) -> Message:
    if isinstance(item, UserMessage):
        content = item.content
        return Message("user", content if isinstance(content, str) else _user_parts(index, content))
    if isinstance(item, SystemMessage):
        return Message("system", _text(item.content))
    if isinstance(item, ToolMessage):
        return Message("tool", _text(item.content), tool_call_id=decode_call_id(item.tool_call_id)[0])
    text = "" if item.content is None else _text(item.content)
    calls = [_tool_call(index, n, call) for n, call in enumerate(item.tool_calls or ())]
    if calls and item.thinking_blocks and not (calls[0].provider_data or {}).get(THINKING_BLOCKS):
        # LiteLLM's place for Anthropic's thinking: back on the first call, where the provider looks.
        calls[0].provider_data = {**(calls[0].provider_data or {}), THINKING_BLOCKS: item.thinking_blocks}
    return Message("assistant", text, tool_calls=calls)


def _text(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.text if isinstance(part, TextPart) else part.refusal for part in content)


def _user_parts(index: int, parts: list[TextPart | ImageUrlPart]) -> list[ContentPart]:
    out: list[ContentPart] = []
    for n, part in enumerate(parts):
        if isinstance(part, TextPart):
            out.append(AgentTextPart(part.text))
        else:
            out.append(_image(index, n, part.image_url.url, part.image_url.detail))
    return out


def _image(index: int, n: int, url: str, detail: str | None) -> ImagePart:
    if not url.startswith("data:"):
        return ImagePart(url=url, detail=detail)
    # data:<media type>;base64,<bytes>: decoded so that every provider gets the bytes in its own format.
    header, sep, payload = url.partition(",")
    media_type = header.removeprefix("data:").removesuffix(";base64")
    if not sep or not header.endswith(";base64") or not media_type:
        raise HttpError(
            400,
            f"messages.{index}.content.{n}.image_url.url: a data: URL must be data:<media type>;base64,<data>",
            param=f"messages.{index}.content.{n}.image_url.url",
        )
    try:
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        raise HttpError(
            400,
            f"messages.{index}.content.{n}.image_url.url: the data is not valid base64",
            param=f"messages.{index}.content.{n}.image_url.url",
        ) from None
    return ImagePart(data=data, media_type=media_type, detail=detail)


def _tool_call(index: int, n: int, call: ToolCallParam) -> ToolCall:
    call_id, provider_data = decode_call_id(call.id)
    if call.provider_specific_fields:
        provider_data = {**(provider_data or {}), **call.provider_specific_fields}
    arguments = call.function.arguments
    path = f"messages.{index}.tool_calls.{n}.function.arguments"
    try:
        parsed = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        raise HttpError(400, f"{path}: not valid JSON (the arguments are a JSON object, as text)", param=path) from None
    if not isinstance(parsed, dict):
        raise HttpError(400, f"{path}: the arguments must be a JSON object", param=path)
    return ToolCall(call_id, call.function.name, parsed, provider_data or None)


def _tool_choice(choice: str | NamedToolChoice) -> str | dict[str, Any]:
    if isinstance(choice, str):
        return choice
    name = choice.function.name
    # A tool's name is how every provider client is told to force that tool; a name that reads
    # as a mode stays in OpenAI's form.
    if name in _TOOL_CHOICE_MODES:
        return {"type": "function", "function": {"name": name}}
    return name


def _response_format(value: object) -> ResponseFormat | None:
    if isinstance(value, JsonSchemaFormat):
        spec = value.json_schema
        return ResponseFormat(schema=spec.schema_ or {}, name=spec.name, strict=bool(spec.strict))
    if isinstance(value, JsonObjectFormat):
        return ResponseFormat()
    return None  # absent, or {"type": "text"}: the default


# --- responses -----------------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def _tool_call_body(call: ToolCall) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": encode_call_id(call.id, call.provider_data),
        "type": "function",
        "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
    }
    if call.provider_data:
        body["provider_specific_fields"] = call.provider_data
    return body


# OpenAI's finish reasons; whatever else a provider or agentrt says is mapped onto them.
_OPENAI_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
_FINISH_MAP = {
    "refusal": "stop",  # as OpenAI: a refusal ends with "stop", and message.refusal says it
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "image_safety": "content_filter",
}


def finish_reason(completion: Completion) -> str:
    """The completion's finish reason in OpenAI's vocabulary (stop, length, tool_calls, content_filter)."""
    reason = completion.finish_reason
    if reason in _OPENAI_FINISH:
        return reason
    if reason:
        mapped = _FINISH_MAP.get(reason.lower())
        if mapped is not None:
            return mapped
    return "tool_calls" if completion.tool_calls else "stop"


def completion_body(completion: Completion, completion_id: str) -> dict[str, Any]:
    """OpenAI's ``chat.completion`` object for ``completion``."""
    refusal = completion.refusal
    message: dict[str, Any] = {
        "role": "assistant",
        "content": completion.text if (completion.text or not completion.tool_calls) and not refusal else None,
        "refusal": refusal,
    }
    if completion.tool_calls:
        message["tool_calls"] = [_tool_call_body(call) for call in completion.tool_calls]
        blocks = thinking_blocks(completion.tool_calls[0].provider_data)
        if blocks is not None:
            message["thinking_blocks"] = blocks
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(completion)}],
        "usage": usage_body(completion.usage),
        "system_fingerprint": None,
    }


class ChunkWriter:
    """Builds the ``chat.completion.chunk`` events of one streamed completion, as SSE ``data:`` bytes."""

    __slots__ = ("_head", "_hold_calls", "_include_usage", "_sent_calls", "_sent_refusal")

    def __init__(self, completion_id: str, model: str, *, include_usage: bool, hold_tool_calls: bool = False) -> None:
        self._include_usage = include_usage
        self._hold_calls = hold_tool_calls
        self._sent_calls: set[int] = set()
        self._sent_refusal = False
        self._head: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            **self._head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "system_fingerprint": None,
        }
        if self._include_usage:
            chunk["usage"] = None
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def role(self) -> bytes:
        """The first chunk: the assistant's role and empty content."""
        return self._chunk({"role": "assistant", "content": ""})

    def text(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def refusal(self, text: str) -> bytes:
        self._sent_refusal = True
        return self._chunk({"refusal": text})

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        if self._hold_calls:
            return b""  # sent whole by finish(), with the ids that carry the provider data
        self._sent_calls.add(delta.index)
        item: dict[str, Any] = {"index": delta.index}
        if delta.id is not None:
            item["id"] = delta.id
            item["type"] = "function"
        function: dict[str, Any] = {"arguments": delta.arguments}
        if delta.name is not None:
            function["name"] = delta.name
        item["function"] = function
        return self._chunk({"tool_calls": [item]})

    def finish(self, completion: Completion) -> bytes:
        """The closing chunks: any tool call the stream gave only whole, the finish reason, the usage."""
        out = b""
        if completion.refusal and not self._sent_refusal:
            # Some providers (Anthropic) say "refused" only in their last event, with no refusal deltas.
            out += self.refusal(completion.refusal)
        for index, call in enumerate(completion.tool_calls):
            if index not in self._sent_calls:
                delta: dict[str, Any] = {"tool_calls": [{"index": index, **_tool_call_body(call)}]}
                blocks = thinking_blocks(call.provider_data) if index == 0 else None
                if blocks is not None:
                    delta["thinking_blocks"] = blocks
                out += self._chunk(delta)
            elif call.provider_data:
                # Streamed already, id and all: the provider data can only follow (LiteLLM's field).
                item = {"index": index, "provider_specific_fields": call.provider_data}
                out += self._chunk({"tool_calls": [item]})
        out += self._chunk({}, finish_reason(completion))
        if self._include_usage:
            usage_chunk = {
                **self._head,
                "choices": [],
                "system_fingerprint": None,
                "usage": usage_body(completion.usage),
            }
            out += b"data: " + orjson.dumps(usage_chunk) + b"\n\n"
        return out + b"data: [DONE]\n\n"


# --- embeddings ---------------------------------------------------------------------------


def embedding_call(request: EmbeddingRequest) -> tuple[list[str], dict[str, Any]]:
    """The texts and the model parameters of an embeddings request."""
    texts = [request.input] if isinstance(request.input, str) else request.input
    params: dict[str, Any] = {}
    extra = request.model_extra
    if extra:
        params.update(extra)
    if request.dimensions is not None:
        params["dimensions"] = request.dimensions
    return texts, params


def embedding_body(result: Embeddings, *, base64_floats: bool) -> dict[str, Any]:
    """OpenAI's embeddings ``list`` for ``result``: floats, or base64 of little-endian float32."""
    data = [
        {"object": "embedding", "index": index, "embedding": _b64(vector) if base64_floats else vector}
        for index, vector in enumerate(result.vectors)
    ]
    tokens = result.usage.input_tokens
    return {
        "object": "list",
        "data": data,
        "model": result.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _b64(vector: list[float]) -> str:
    values = array.array("f", vector)
    if sys.byteorder != "little":
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode()
