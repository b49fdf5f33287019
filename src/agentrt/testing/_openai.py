"""The OpenAI Chat Completions wire format: requests in, completions, chunks and errors out."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any

import orjson

from agentrt.testing._neutral import (
    Answer,
    ChatCall,
    EmbedCall,
    IdMint,
    Rejection,
    embedding_vector,
    estimate_tokens,
    float32_base64,
    text_of_parts,
)
from agentrt.testing._script import Api
from agentrt.testing._strict import Invalid

__all__ = ["OpenAIDialect"]

# status -> the error "type" OpenAI sends with it
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "requests",
}
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
_CONTEXT_WINDOW = 128000


class OpenAIDialect:
    api: Api = "openai"

    # --- requests -----------------------------------------------------------

    def request_model(self, body: Any, path_model: str | None) -> str | None:
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool:
        return hmac.compare_digest(headers.get("authorization", ""), f"Bearer {api_key}")

    def parse_chat(self, body: Any, path_model: str | None, streaming_path: bool) -> ChatCall | Rejection:
        if not isinstance(body, dict):
            return Rejection("the request body must be a JSON object with 'model' and 'messages'")
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            return Rejection("you must provide a model parameter")
        if not isinstance(messages, list) or not messages:
            return Rejection("'messages' must be a non-empty array of messages")
        last_user_text, input_chars = "", 0
        for message in messages:
            if not isinstance(message, dict):
                return Rejection("each of 'messages' must be an object with a 'role'")
            text = text_of_parts(message.get("content"))
            input_chars += len(text)
            if message.get("role") == "user" and text:
                last_user_text = text
        tools = body.get("tools") or []
        tool_names = [t["function"]["name"] for t in tools if isinstance(t, dict) and "function" in t]
        response_format = body.get("response_format") or {}
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        schema = None
        if kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
        stream_options = body.get("stream_options") or {}
        return ChatCall(
            model=model,
            stream=bool(body.get("stream")),
            last_user_text=last_user_text,
            input_chars=input_chars,
            tool_names=tool_names,
            wants_json=kind in ("json_schema", "json_object"),
            json_schema=schema if isinstance(schema, dict) else None,
            include_usage=bool(isinstance(stream_options, dict) and stream_options.get("include_usage")),
        )

    def parse_embed(self, body: Any) -> EmbedCall | Rejection:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return Rejection("the request body must be a JSON object with 'model' and 'input'")
        raw = body.get("input")
        if isinstance(raw, str):
            texts = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            texts = [orjson.dumps(raw).decode()]  # one input given as token ids
        elif isinstance(raw, list) and raw:
            texts = [x if isinstance(x, str) else orjson.dumps(x).decode() for x in raw]
        else:
            return Rejection("'input' must be a non-empty string or array")
        dimensions = body.get("dimensions")
        return EmbedCall(
            model=body["model"],
            texts=texts,
            dimensions=dimensions if isinstance(dimensions, int) and dimensions > 0 else None,
            as_base64=body.get("encoding_format") == "base64",
        )

    # --- answers ------------------------------------------------------------

    def render_reply(self, answer: Answer, mint: IdMint) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.text if answer.text or not answer.tool_calls else None,
            "refusal": None,
            "annotations": [],
        }
        if answer.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for c in answer.tool_calls
            ]
        return {
            "id": mint.next("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": answer.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(answer)}],
            "usage": _usage(answer),
            "service_tier": "default",
            "system_fingerprint": None,
        }

    def render_stream(self, answer: Answer, call: ChatCall, mint: IdMint) -> list[bytes]:
        chunk_id, created = mint.next("chatcmpl-"), int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            body: dict[str, Any] = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": answer.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if call.include_usage:
                body["usage"] = None  # every chunk but the last carries a null usage
            return _sse(body)

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": piece}) for piece in answer.text_chunks()]
        for index, tool_call in enumerate(answer.tool_calls):
            opening = {"index": index, "id": tool_call.id, "type": "function"}
            events.append(chunk({"tool_calls": [{**opening, "function": {"name": tool_call.name, "arguments": ""}}]}))
            arguments = tool_call.arguments_json
            for start in range(0, len(arguments), answer.chunk_size):
                fragment = arguments[start : start + answer.chunk_size]
                events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
        events.append(chunk({}, _finish_reason(answer)))
        if call.include_usage:
            events.append(
                _sse(
                    {
                        "id": chunk_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": answer.model,
                        "system_fingerprint": None,
                        "choices": [],
                        "usage": _usage(answer),
                    }
                )
            )
        events.append(b"data: [DONE]\n\n")
        return events

    def render_embeddings(self, call: EmbedCall, dim: int, input_tokens: int | None) -> dict[str, Any]:
        data = []
        for index, text in enumerate(call.texts):
            vector = embedding_vector(text, call.dimensions or dim)
            data.append(
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": float32_base64(vector) if call.as_base64 else vector,
                }
            )
        tokens = input_tokens if input_tokens is not None else sum(estimate_tokens(len(t)) for t in call.texts)
        return {
            "object": "list",
            "data": data,
            "model": call.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def render_models(self, names: list[str]) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"} for name in names],
        }

    def garbage_event(self) -> bytes:
        return b'data: {"id": "chatcmpl-broken", "choices": [{"delta": \n\n'

    # --- errors -------------------------------------------------------------

    def error(self, status: int, message: str, code: str | None, retry_after: float | None = None) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": code or _ERROR_CODES.get(status)}}

    def invalid_request(self, problem: Invalid, request_id: str) -> dict[str, Any]:
        """The 400 OpenAI answers a request its API refuses, naming the parameter at fault."""
        error = {"message": problem.message, "type": "invalid_request_error", "param": problem.param, "code": None}
        return {"error": error}

    def auth_error(self) -> tuple[int, dict[str, Any]]:
        # The real message shows a masked key; the fake never echoes any part of it.
        message = (
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
        )
        return 401, self.error(401, message, "invalid_api_key")

    def context_length_error(self, call: ChatCall | None) -> tuple[int, dict[str, Any]]:
        used = _CONTEXT_WINDOW + 1 + (estimate_tokens(call.input_chars) if call else 0)
        message = (
            f"This model's maximum context length is {_CONTEXT_WINDOW} tokens. However, your messages "
            f"resulted in {used} tokens. Please reduce the length of the messages."
        )
        body = self.error(400, message, "context_length_exceeded")
        body["error"]["param"] = "messages"
        return 400, body


def _finish_reason(answer: Answer) -> str:
    if answer.finish_reason is not None:
        return answer.finish_reason
    return "tool_calls" if answer.tool_calls else "stop"


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.input_tokens + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": answer.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"
