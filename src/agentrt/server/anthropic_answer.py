"""agentrt's results as Anthropic's ``message`` objects, and errors in Anthropic's shape.

A completion's thinking (kept with its tool calls) comes back as thinking
blocks before the calls; a tool call's other provider data (Gemini's
thoughtSignature) rides in its ``id``. ``stop_reason`` is Anthropic's own when
an Anthropic model answered, and mapped from OpenAI's words otherwise.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from agentrt.server.errors import ErrorInfo
from agentrt.server.reasoning import THINKING_BLOCKS, encode_call_id
from agentrt.server.sse import format_event
from agentrt.types import Completion, ToolCall

__all__ = [
    "anthropic_error_body",
    "anthropic_error_event",
    "anthropic_error_type",
    "message_body",
    "new_message_id",
    "shown_text",
    "stop_reason",
    "thinking_of",
    "tool_use",
    "tool_use_id",
    "usage_body",
]

# Provider data that is not sent back inside an id: thinking goes as blocks, a cut-off call's raw text nowhere.
_NOT_IN_ID = frozenset({THINKING_BLOCKS, "truncated_arguments"})

_ID_PREFIX = os.urandom(6).hex()
_id_counter = 0


def new_message_id() -> str:
    """A fresh ``msg_...`` id, unique across processes."""
    global _id_counter
    _id_counter += 1
    return f"msg_{_ID_PREFIX}{_id_counter:x}"


# --- messages -----------------------------------------------------------------------------------

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


def thinking_of(call: ToolCall) -> list[dict[str, Any]]:
    blocks = (call.provider_data or {}).get(THINKING_BLOCKS)
    if not isinstance(blocks, list):
        return []
    return [b for b in blocks if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")]


def tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_use_id(call), "name": call.name, "input": call.arguments}


def shown_text(completion: Completion, refusal_as_text: bool) -> str:
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
        content.extend(thinking_of(calls[0]))
    text = shown_text(completion, refusal_as_text)
    if text:
        content.append({"type": "text", "text": text})
    for index, call in enumerate(calls):
        if index:
            content.extend(thinking_of(call))
        content.append(tool_use(call))
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
