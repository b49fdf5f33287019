"""Anthropic Messages requests to agentrt's call types, and agentrt's results to Anthropic's bodies and events.

Any configured model serves ``/v1/messages``: the request becomes agentrt's
provider-neutral messages, tools and parameters, and the pipeline translates
them for the model's own provider, as for any other call.

- ``system`` (a string or text blocks) is one system message; a user turn's
  ``tool_result`` blocks become tool messages, its text and images one user
  message after them (images inside a tool result join that user message:
  agentrt's tool results are text).
- An assistant turn's ``thinking`` blocks travel with the tool call they led to
  (``ToolCall.provider_data``), where the Anthropic client puts them back in
  place; thinking that led to no tool call may be left out, as Anthropic allows.
- ``tool_choice``: ``auto``, ``any`` (OpenAI's ``required``), ``tool`` (a name),
  ``none``; ``disable_parallel_tool_use`` is ``parallel_tool_calls: false``.
- Anthropic-only parameters (``thinking``, ``top_k``, ``metadata``, and fields
  this version does not know) reach Anthropic models only; for another kind
  they are left out and named in a warning. Beta features that need the
  client's ``anthropic-beta`` header (``context_management``, ``container``,
  ``mcp_servers``) are left out for every kind, with the same warning: the
  gateway's provider client speaks the API's stable version. Structured output
  (``output_config.format`` with a JSON schema) is the call's JSON format, so
  it works for every kind.
- ``metadata.user_id`` is passed on to Anthropic, never made the principal: the
  API key says whom a request is for (its limits and budgets), as on
  ``/v1/chat/completions``, so a client cannot step around a per-user limit by
  naming another user.

A tool call's provider data other than thinking (Gemini's thoughtSignature)
rides in its ``id``, as on the OpenAI route (:mod:`agentrt.server.reasoning`).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

from agentrt.server.anthropic_models import (
    CountTokensRequest,
    ImageBlock,
    InputMessage,
    MessagesRequest,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolChoiceNamed,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
)
from agentrt.server.errors import ErrorInfo, HttpError
from agentrt.server.reasoning import THINKING_BLOCKS, decode_call_id, encode_call_id
from agentrt.server.sse import format_event
from agentrt.types import (
    Completion,
    ContentPart,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
)

__all__ = [
    "MessageStreamWriter",
    "MessagesCall",
    "anthropic_error_body",
    "message_body",
    "messages_call",
    "new_message_id",
    "request_messages",
    "tool_specs",
]

_log = structlog.get_logger("agentrt.server")

_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
# Never made model parameters: they are the call's own fields, or what it is for.
_OWN_FIELDS = frozenset({"model", "messages", "stream"})
# Beta features of Anthropic's API: they need the client's `anthropic-beta` header, which the gateway does not
# pass to the provider (its client speaks the API's stable version), so the API would refuse them.
_NEEDS_BETA = frozenset({"context_management", "container", "mcp_servers"})
# Provider data that is not sent back inside an id: thinking goes as blocks, a cut-off call's raw text nowhere.
_NOT_IN_ID = frozenset({THINKING_BLOCKS, "truncated_arguments"})

_ID_PREFIX = os.urandom(6).hex()
_id_counter = 0


def new_message_id() -> str:
    """A fresh ``msg_...`` id, unique across processes."""
    global _id_counter
    _id_counter += 1
    return f"msg_{_ID_PREFIX}{_id_counter:x}"


@dataclass(slots=True)
class MessagesCall:
    """What ``rt.calls.generate``/``stream`` is given for one messages request."""

    model: str
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False


def messages_call(request: MessagesRequest, kind: str | None) -> MessagesCall:
    """The call a validated request asks for, for a model of provider kind ``kind``."""
    messages = request_messages(request.system, request.messages)
    options: dict[str, Any] = {"max_output_tokens": request.max_tokens}
    params: dict[str, Any] = {}
    if request.tools:
        options["tools"] = tool_specs(request.tools)
    choice = request.tool_choice
    if choice is not None:
        if choice.type == "none":
            options["tool_choice"] = "none"
        elif isinstance(choice, ToolChoiceNamed):
            name = choice.name
            options["tool_choice"] = (
                {"type": "function", "function": {"name": name}} if name in _TOOL_CHOICE_MODES else name
            )
        else:
            options["tool_choice"] = "required" if choice.type == "any" else "auto"
        if getattr(choice, "disable_parallel_tool_use", None):
            params["parallel_tool_calls"] = False
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.stop_sequences:
        options["stop"] = list(request.stop_sequences)
    own: dict[str, Any] = {}
    if request.top_k is not None:
        own["top_k"] = request.top_k
    if request.thinking is not None:
        own["thinking"] = request.thinking
    if request.metadata is not None and request.metadata.user_id is not None:
        own["metadata"] = {"user_id": request.metadata.user_id}
    beta: list[str] = []
    for key, value in (request.model_extra or {}).items():
        if key in _NEEDS_BETA:
            beta.append(key)
        elif key not in _OWN_FIELDS:
            own[key] = value
    if beta:
        _log.warning(
            "http_params_dropped",
            route="/v1/messages",
            model=request.model,
            params=sorted(beta),
            reason="beta features of Anthropic's API, which the gateway does not ask its provider for",
        )
    if kind == "anthropic":
        params.update(own)
    else:
        _json_format(own, options)
    if own and kind != "anthropic":
        _log.warning(
            "http_params_dropped",
            route="/v1/messages",
            model=request.model,
            params=sorted(own),
            reason="Anthropic's own parameters; the model is served by another kind of provider",
        )
    if params:
        options["params"] = params  # a mapping, never keywords: a field named like an agentrt option stays a parameter
    return MessagesCall(request.model, messages, options, request.stream)


def _json_format(own: dict[str, Any], options: dict[str, Any]) -> None:
    """Anthropic's structured output (``output_config.format``) as the call's JSON format, for any kind;
    the rest of ``output_config`` (``effort``) stays Anthropic's."""
    config = own.get("output_config")
    if not isinstance(config, dict) or not isinstance(config.get("format"), dict):
        return
    format_ = config["format"]
    if format_.get("type") != "json_schema" or not isinstance(format_.get("schema"), dict):
        return
    options["response_format"] = ResponseFormat(schema=format_["schema"])
    rest = {key: value for key, value in config.items() if key != "format"}
    if rest:
        own["output_config"] = rest
    else:
        del own["output_config"]


def tool_specs(tools: list[ToolDefinition]) -> list[ToolSpec]:
    return [ToolSpec(t.name, t.description or "", t.input_schema, t.strict) for t in tools]


def count_call(request: CountTokensRequest) -> tuple[list[Message], list[ToolSpec]]:
    """The messages and tools of a count_tokens request."""
    return request_messages(request.system, request.messages), tool_specs(request.tools or [])


def request_messages(system: str | list[TextBlock] | None, turns: list[InputMessage]) -> list[Message]:
    """agentrt's messages for a request's system prompt and turns; ``HttpError`` 400 for a block out of place."""
    messages: list[Message] = []
    if system:
        text = system if isinstance(system, str) else "\n\n".join(block.text for block in system)
        if text:
            messages.append(Message("system", text))
    tool_names: dict[str, str] = {}  # tool_use id -> name: a tool result needs it (Gemini)
    for index, turn in enumerate(turns):
        if turn.role == "user":
            messages.extend(_user_turn(index, turn.content, tool_names))
        elif turn.role == "system":
            messages.append(Message("system", _system_text(index, turn.content)))
        else:
            message = _assistant_turn(index, turn.content)
            for call in message.tool_calls:
                tool_names[call.id] = call.name
            messages.append(message)
    return messages


def _system_text(index: int, content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for n, block in enumerate(content):
        if not isinstance(block, TextBlock):
            where = f"messages.{index}.content.{n}"
            raise HttpError(400, f"{where}: a system message takes text blocks only", param=f"{where}.type")
        texts.append(block.text)
    return "\n\n".join(texts)


def _user_turn(index: int, content: str | list[Any], tool_names: dict[str, str]) -> list[Message]:
    if isinstance(content, str):
        return [Message("user", content)]
    out: list[Message] = []
    parts: list[ContentPart] = []
    for n, block in enumerate(content):
        where = f"messages.{index}.content.{n}"
        if isinstance(block, TextBlock):
            parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock):
            parts.append(_image(block, where))
        elif isinstance(block, ToolResultBlock):
            call_id = decode_call_id(block.tool_use_id)[0]
            text, images = _tool_result(block, where)
            out.append(Message("tool", text, tool_call_id=call_id, name=tool_names.get(call_id)))
            parts.extend(images)
        else:
            raise HttpError(
                400,
                f"{where}: a {block.type} block belongs in an assistant message, not a user message",
                param=f"{where}.type",
            )
    if parts:
        out.append(Message("user", parts))
    return out


def _tool_result(block: ToolResultBlock, where: str) -> tuple[str, list[ImagePart]]:
    content = block.content
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts = [part.text for part in content if isinstance(part, TextBlock)]
    images = [_image(part, f"{where}.content.{n}") for n, part in enumerate(content) if isinstance(part, ImageBlock)]
    return "\n".join(texts), images


def _assistant_turn(index: int, content: str | list[Any]) -> Message:
    if isinstance(content, str):
        return Message("assistant", content)
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[dict[str, Any]] = []  # blocks not yet attached to the call they led to
    for n, block in enumerate(content):
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ThinkingBlock):
            thinking.append({"type": "thinking", "thinking": block.thinking, "signature": block.signature})
        elif isinstance(block, RedactedThinkingBlock):
            thinking.append({"type": "redacted_thinking", "data": block.data})
        elif isinstance(block, ToolUseBlock):
            call_id, data = decode_call_id(block.id)
            provider_data = dict(data or {})
            if thinking:
                provider_data[THINKING_BLOCKS] = thinking
                thinking = []
            calls.append(ToolCall(call_id, block.name, dict(block.input), provider_data or None))
        else:
            where = f"messages.{index}.content.{n}"
            raise HttpError(
                400,
                f"{where}: a {block.type} block belongs in a user message, not an assistant message",
                param=f"{where}.type",
            )
    if thinking and calls:  # thinking after the last call: kept with it, as the Anthropic client does
        last = calls[-1]
        kept = (last.provider_data or {}).get(THINKING_BLOCKS, [])
        last.provider_data = {**(last.provider_data or {}), THINKING_BLOCKS: [*kept, *thinking]}
    return Message("assistant", "".join(texts), tool_calls=calls)


def _image(block: ImageBlock, where: str) -> ImagePart:
    source = block.source
    if source.type == "url":
        return ImagePart(url=source.url)
    try:
        data = base64.b64decode(source.data, validate=True)
    except ValueError:
        raise HttpError(400, f"{where}.source.data: not valid base64", param=f"{where}.source.data") from None
    return ImagePart(data=data, media_type=source.media_type)


# --- answers -----------------------------------------------------------------------------------

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "refusal": "refusal",
    "content_filter": "refusal",
}
_ANTHROPIC_STOP_REASONS = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"})


def stop_reason(completion: Completion) -> tuple[str, str | None]:
    """Anthropic's ``stop_reason`` and ``stop_sequence`` for a completion (Anthropic's own when it answered)."""
    raw = completion.raw
    if isinstance(raw, dict) and raw.get("stop_reason") in _ANTHROPIC_STOP_REASONS:
        sequence = raw.get("stop_sequence")
        return raw["stop_reason"], sequence if isinstance(sequence, str) else None
    reason = _STOP_REASONS.get(completion.finish_reason or "")
    if reason is None:
        reason = "tool_use" if completion.tool_calls else "end_turn"
    return reason, None


def usage_body(completion: Completion) -> dict[str, int]:
    usage = completion.usage
    # Anthropic counts cache reads apart from input_tokens; agentrt's input_tokens include them.
    return {
        "input_tokens": usage.input_tokens - usage.cached_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
    }


def tool_use_id(call: ToolCall) -> str:
    data = {k: v for k, v in (call.provider_data or {}).items() if k not in _NOT_IN_ID}
    return encode_call_id(call.id, data or None)


def _thinking_of(call: ToolCall) -> list[dict[str, Any]]:
    blocks = (call.provider_data or {}).get(THINKING_BLOCKS)
    if not isinstance(blocks, list):
        return []
    return [b for b in blocks if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")]


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_use_id(call), "name": call.name, "input": call.arguments}


def _shown_text(completion: Completion, refusal_as_text: bool) -> str:
    if completion.text or not refusal_as_text:
        return completion.text
    return completion.refusal or ""


def message_body(completion: Completion, message_id: str, *, refusal_as_text: bool) -> dict[str, Any]:
    """Anthropic's ``message`` object for ``completion``.

    ``refusal_as_text``: a refusal explained in words (OpenAI's) is the text; Anthropic's own
    refusal has no words but its stop reason.
    """
    content: list[dict[str, Any]] = []
    calls = completion.tool_calls
    if calls:
        content.extend(_thinking_of(calls[0]))
    text = _shown_text(completion, refusal_as_text)
    if text:
        content.append({"type": "text", "text": text})
    for index, call in enumerate(calls):
        if index:
            content.extend(_thinking_of(call))
        content.append(_tool_use(call))
    reason, sequence = stop_reason(completion)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": content,
        "model": completion.model,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_body(completion),
    }


def _event(data: dict[str, Any]) -> bytes:
    return format_event(orjson.dumps(data), event=data["type"])


class MessageStreamWriter:
    """Builds the server-sent events of one streamed message, as bytes.

    Text streams as it comes. A tool call streams as it comes (``input_json_delta``) unless
    ``hold_tool_calls``: then it is sent whole at the end, after the thinking that led to it,
    with the id that carries its provider data.
    """

    __slots__ = ("_held", "_hold", "_live", "_message_id", "_model", "_next", "_open", "_refusal_as_text", "_text")

    def __init__(self, message_id: str, model: str, *, hold_tool_calls: bool, refusal_as_text: bool) -> None:
        self._message_id = message_id
        self._model = model
        self._hold = hold_tool_calls
        self._refusal_as_text = refusal_as_text
        self._next = 0  # the index of the next content block
        self._open: tuple[str, int] | None = None  # ("text", -1) or ("tool", call index), with its block index
        self._live: set[int] = set()  # call indexes streamed as they came
        self._held: set[int] = set()
        self._text = False

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event({"type": "message_start", "message": message}) + _event({"type": "ping"})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event({"type": "content_block_stop", "index": self._next - 1})

    def _open_block(self, kind: str, call: int, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self._open = (kind, call)
        self._next += 1
        return out + _event({"type": "content_block_start", "index": self._next - 1, "content_block": block})

    def text(self, text: str) -> bytes:
        if not text:
            return b""
        out = b"" if self._open == ("text", -1) else self._open_block("text", -1, {"type": "text", "text": ""})
        self._text = True
        delta = {"type": "text_delta", "text": text}
        return out + _event({"type": "content_block_delta", "index": self._next - 1, "delta": delta})

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        index = delta.index
        if index in self._held:
            return b""
        out = b""
        if index not in self._live:
            if self._hold or delta.id is None or delta.name is None:
                self._held.add(index)  # sent whole by finish()
                return b""
            self._live.add(index)
            block = {"type": "tool_use", "id": delta.id, "name": delta.name, "input": {}}
            out = self._open_block("tool", index, block)
        elif self._open != ("tool", index):
            return b""  # a piece of a call whose block is closed: the final answer has it whole
        if delta.arguments:
            json_delta = {"type": "input_json_delta", "partial_json": delta.arguments}
            out += _event({"type": "content_block_delta", "index": self._next - 1, "delta": json_delta})
        return out

    def _whole_block(self, block: dict[str, Any]) -> bytes:
        """A block sent in one piece: its start, its content as one delta, its stop."""
        kind = block["type"]
        if kind == "thinking":
            out = self._open_block("thinking", -1, {"type": "thinking", "thinking": "", "signature": ""})
            index = self._next - 1
            out += _event(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": block.get("thinking", "")},
                }
            )
            signature = {"type": "signature_delta", "signature": block.get("signature", "")}
            out += _event({"type": "content_block_delta", "index": index, "delta": signature})
        elif kind == "tool_use":
            out = self._open_block("tool", -1, {**block, "input": {}})
            json_delta = {"type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()}
            out += _event({"type": "content_block_delta", "index": self._next - 1, "delta": json_delta})
        else:  # redacted thinking, text: whole in their start
            out = self._open_block(kind, -1, block)
        return out + self._close_block()

    def finish(self, completion: Completion) -> bytes:
        """The closing events: what was held back, the stop reason and usage, ``message_stop``."""
        out = b""
        if not self._text:
            text = _shown_text(completion, self._refusal_as_text)
            if text:
                out += self.text(text)
        for index, call in enumerate(completion.tool_calls):
            if index in self._live:
                continue
            for block in _thinking_of(call):
                out += self._whole_block(block)
            out += self._whole_block(_tool_use(call))
        out += self._close_block()
        reason, sequence = stop_reason(completion)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += _event({"type": "message_delta", "delta": delta, "usage": usage_body(completion)})
        return out + _event({"type": "message_stop"})


# --- errors ------------------------------------------------------------------------------------

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status (the anthropic SDK picks its exception by the status)."""
    found = _ERROR_TYPES.get(status)
    if found is not None:
        return found
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error_body(info: ErrorInfo, request_id: str | None = None) -> bytes:
    """``{"type": "error", "error": {"type", "message"}, "request_id"}``: Anthropic's error shape."""
    error = {"type": anthropic_error_type(info.status), "message": info.message}
    return orjson.dumps({"type": "error", "error": error, "request_id": request_id})


def anthropic_error_event(info: ErrorInfo, request_id: str | None) -> bytes:
    """An error after the stream began: Anthropic's ``error`` event."""
    return format_event(anthropic_error_body(info, request_id), event="error")
