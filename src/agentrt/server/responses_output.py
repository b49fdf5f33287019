"""agentrt's results as the Responses API's output items and response objects.

A completion is one ``message`` item (its text, or its refusal) and a
``function_call`` item per tool call, whose ``call_id`` carries the call's
provider data (:mod:`agentrt.server.reasoning`). A response cut at the output
limit is ``incomplete``, as OpenAI says it.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from agentrt.server.errors import ErrorInfo
from agentrt.server.reasoning import encode_call_id
from agentrt.types import Completion, Message, ToolCall

__all__ = [
    "call_id_of",
    "call_item",
    "message_item",
    "message_of",
    "new_id",
    "output_items",
    "response_object",
    "usage_body",
]

_ID_PREFIX = os.urandom(6).hex()
_id_counter = 0


def new_id(kind: str) -> str:
    """A fresh id such as ``resp_1a2b3c4d5e6f1f`` (``kind``: resp, msg, fc), unique across processes."""
    global _id_counter
    _id_counter += 1
    return f"{kind}_{_ID_PREFIX}{_id_counter:x}"


# --- output ------------------------------------------------------------------------------------


def call_id_of(call: ToolCall) -> str:
    data = {k: v for k, v in (call.provider_data or {}).items() if k != "truncated_arguments"}
    return encode_call_id(call.id, data or None)


def message_item(item_id: str, text: str, refusal: str | None, status: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text or not refusal:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def call_item(item_id: str, call: ToolCall, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id_of(call),
        "name": call.name,
        "arguments": orjson.dumps(call.arguments).decode(),
        "status": status,
    }


def output_items(
    completion: Completion, message_id: str | None = None, call_ids: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """The output items of a completion: its message (text or refusal), then its function calls."""
    items: list[dict[str, Any]] = []
    if completion.text or completion.refusal or not completion.tool_calls:
        items.append(message_item(message_id or new_id("msg"), completion.text, completion.refusal, "completed"))
    for index, call in enumerate(completion.tool_calls):
        items.append(call_item((call_ids or {}).get(index) or new_id("fc"), call, "completed"))
    return items


def _status(completion: Completion) -> tuple[str, dict[str, str] | None]:
    reason = completion.finish_reason
    if reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def usage_body(completion: Completion) -> dict[str, Any]:
    usage = completion.usage
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def response_object(
    response_id: str,
    model: str,
    echo: dict[str, Any],
    *,
    created_at: int,
    completion: Completion | None = None,
    output: list[dict[str, Any]] | None = None,
    error: ErrorInfo | None = None,
) -> dict[str, Any]:
    """The response object: in progress (no completion yet), finished, or failed (``error``)."""
    status, incomplete = ("in_progress", None) if completion is None else _status(completion)
    if error is not None:
        status = "failed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": {"code": error.code or error.type, "message": error.message} if error is not None else None,
        "incomplete_details": incomplete,
        "model": completion.model if completion is not None else model,
        "output": output if output is not None else [],
        "usage": usage_body(completion) if completion is not None else None,
        **echo,
    }


def message_of(completion: Completion) -> Message:
    """The assistant message a completion adds to the conversation."""
    return Message("assistant", completion.text, tool_calls=list(completion.tool_calls))
