"""The Anthropic Messages wire format: requests in, messages, stream events and errors out."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from agentrt.testing._neutral import Answer, ChatCall, IdMint, Rejection, estimate_tokens, text_of_parts
from agentrt.testing._script import Api
from agentrt.testing._strict import Invalid

__all__ = ["AnthropicDialect"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_CONTEXT_WINDOW = 200000


class AnthropicDialect:
    api: Api = "anthropic"

    # --- requests -----------------------------------------------------------

    def request_model(self, body: Any, path_model: str | None) -> str | None:
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool:
        # x-api-key is the usual way; an OAuth-style bearer token is accepted too.
        return hmac.compare_digest(headers.get("x-api-key", ""), api_key) or hmac.compare_digest(
            headers.get("authorization", ""), f"Bearer {api_key}"
        )

    def missing_version(self, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]] | None:
        if headers.get("anthropic-version"):
            return None
        return 400, self.error(400, "anthropic-version: header is required", None)

    def parse_chat(self, body: Any, path_model: str | None, streaming_path: bool) -> ChatCall | Rejection:
        if not isinstance(body, dict):
            return Rejection("the request body must be a JSON object with 'model', 'max_tokens' and 'messages'")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            return Rejection("model: Field required")
        if not isinstance(body.get("max_tokens"), int):
            return Rejection("max_tokens: Field required")
        if not isinstance(messages, list) or not messages:
            return Rejection("messages: at least one message is required")
        input_chars = len(text_of_parts(body.get("system")))
        last_user_text = ""
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return Rejection("messages: each message needs a role of 'user' or 'assistant'")
            text = text_of_parts(message.get("content"))
            input_chars += len(text) + _tool_result_chars(message.get("content"))
            if message["role"] == "user" and text:
                last_user_text = text
        tools = body.get("tools") or []
        output_format = _output_format(body)
        schema = output_format.get("schema") if output_format else None
        return ChatCall(
            model=model,
            stream=bool(body.get("stream")),
            last_user_text=last_user_text,
            input_chars=input_chars,
            tool_names=[t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)],
            wants_json=bool(output_format and output_format.get("type") == "json_schema"),
            json_schema=schema if isinstance(schema, dict) else None,
            thinking=_thinking_on(body.get("thinking")),
        )

    # --- answers ------------------------------------------------------------

    def render_reply(self, answer: Answer, mint: IdMint) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if answer.thinking is not None:
            content.append({"type": "thinking", "thinking": answer.thinking, "signature": answer.thinking_signature})
        if answer.text or not answer.tool_calls:
            content.append({"type": "text", "text": answer.text})
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in answer.tool_calls]
        return {
            "id": mint.next("msg_"),
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": content,
            "stop_reason": _stop_reason(answer),
            "stop_sequence": None,
            "usage": _usage(answer, answer.output_tokens),
        }

    def render_stream(self, answer: Answer, call: ChatCall, mint: IdMint) -> list[bytes]:
        start_message: dict[str, Any] = {
            "id": mint.next("msg_"),
            "type": "message",
            "role": "assistant",
            "model": answer.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(answer, 1),  # the real API reports a placeholder output count here
        }
        events = [_event("message_start", {"message": start_message})]
        blocks: list[tuple[dict[str, Any], str, list[str]]] = []  # (start block, delta type, pieces)
        if answer.thinking is not None:
            size = answer.chunk_size
            pieces = [answer.thinking[i : i + size] for i in range(0, len(answer.thinking), size)]
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, "thinking_delta", pieces))
        if answer.text or not answer.tool_calls:
            blocks.append(({"type": "text", "text": ""}, "text_delta", answer.text_chunks()))
        for tool_call in answer.tool_calls:
            arguments, size = tool_call.arguments_json, answer.chunk_size
            pieces = [arguments[i : i + size] for i in range(0, len(arguments), size)]
            block = {"type": "tool_use", "id": tool_call.id, "name": tool_call.name, "input": {}}
            blocks.append((block, "input_json_delta", pieces))
        for index, (block, delta_type, pieces) in enumerate(blocks):
            events.append(_event("content_block_start", {"index": index, "content_block": block}))
            if index == 0:
                events.append(_event("ping", {}))
            key = {"text_delta": "text", "thinking_delta": "thinking"}.get(delta_type, "partial_json")
            events += [
                _event("content_block_delta", {"index": index, "delta": {"type": delta_type, key: piece}})
                for piece in pieces
            ]
            if delta_type == "thinking_delta":  # the signature comes last, just before the block stops
                signature_delta = {"type": "signature_delta", "signature": answer.thinking_signature}
                events.append(_event("content_block_delta", {"index": index, "delta": signature_delta}))
            events.append(_event("content_block_stop", {"index": index}))
        delta = {"stop_reason": _stop_reason(answer), "stop_sequence": None}
        events.append(_event("message_delta", {"delta": delta, "usage": _usage(answer, answer.output_tokens)}))
        events.append(_event("message_stop", {}))
        return events

    def render_models(self, names: list[str]) -> dict[str, Any]:
        data = [
            {"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"} for name in names
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }

    def garbage_event(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": \n\n'

    # --- errors -------------------------------------------------------------

    def error(self, status: int, message: str, code: str | None, retry_after: float | None = None) -> dict[str, Any]:
        kind = code or _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def invalid_request(self, problem: Invalid, request_id: str) -> dict[str, Any]:
        """The 400 Anthropic answers a request its API refuses (its error bodies carry the request id)."""
        return {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": problem.message},
            "request_id": request_id,
        }

    def auth_error(self) -> tuple[int, dict[str, Any]]:
        return 401, self.error(401, "invalid x-api-key", None)

    def context_length_error(self, call: ChatCall | None) -> tuple[int, dict[str, Any]]:
        used = _CONTEXT_WINDOW + 1 + (estimate_tokens(call.input_chars) if call else 0)
        return 400, self.error(400, f"prompt is too long: {used} tokens > {_CONTEXT_WINDOW} maximum", None)


def _output_format(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON output asked: ``output_config.format`` (GA) or the older top-level ``output_format``."""
    config = body.get("output_config")
    chosen = config.get("format") if isinstance(config, dict) else None
    if isinstance(chosen, dict):
        return chosen
    legacy = body.get("output_format")
    return legacy if isinstance(legacy, dict) else None


def _thinking_on(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _tool_result_chars(content: Any) -> int:
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            total += len(text_of_parts(block.get("content")))
    return total


def _stop_reason(answer: Answer) -> str:
    if answer.finish_reason is not None:
        return answer.finish_reason
    return "tool_use" if answer.tool_calls else "end_turn"


def _usage(answer: Answer, output_tokens: int) -> dict[str, Any]:
    # Anthropic counts cache reads apart: input_tokens is the uncached part only.
    return {
        "input_tokens": max(answer.input_tokens - answer.cached_tokens, 0),
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": answer.cached_tokens,
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"
