"""Ollama's native API: ``/api/chat`` (NDJSON streams), ``/api/embed``, ``/api/tags``.

Shapes from Ollama's API documentation (docs/api.md): a chat answer is
``{"model", "created_at", "message", "done": true, "done_reason", ...counts}``
with ``prompt_eval_count`` (input tokens) and ``eval_count`` (output tokens); a
stream is one such JSON object per line, ``done: false`` until the last, which
carries the counts. Tool calls come whole, arguments as an object. Errors are
``{"error": "..."}``. Streaming is the default: ``"stream": false`` asks for one
answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from agentrt.testing._neutral import Answer, ChatCall, EmbedCall, IdMint, Rejection, embedding_vector, estimate_tokens
from agentrt.testing._script import Api
from agentrt.testing._strict import Invalid

__all__ = ["OllamaDialect"]


class OllamaDialect:
    api: Api = "ollama"
    stream_content_type = "application/x-ndjson"

    def request_model(self, body: Any, path_model: str | None) -> str | None:
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool:
        return True  # Ollama has no credentials

    def parse_chat(self, body: Any, path_model: str | None, streaming_path: bool) -> ChatCall | Rejection:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return Rejection("model is required")
        input_chars, last_user_text = 0, ""
        for message in body.get("messages") or []:
            text = str(message.get("content") or "") if isinstance(message, dict) else ""
            input_chars += len(text)
            if message.get("role") == "user" and text:
                last_user_text = text
        names = [t["function"]["name"] for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t]
        format_ = body.get("format")
        return ChatCall(
            model=body["model"],
            stream=body.get("stream", True) is not False,
            last_user_text=last_user_text,
            input_chars=input_chars,
            tool_names=names,
            wants_json=format_ is not None,
            json_schema=format_ if isinstance(format_, dict) else None,
        )

    def parse_embed(self, body: Any) -> EmbedCall | Rejection:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return Rejection("model is required")
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return Rejection("invalid input type")
        dimensions = body.get("dimensions")
        return EmbedCall(
            model=body["model"], texts=texts, dimensions=dimensions if isinstance(dimensions, int) else None
        )

    # --- answers ------------------------------------------------------------

    def render_reply(self, answer: Answer, mint: IdMint) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if answer.tool_calls:
            message["tool_calls"] = _tool_calls(answer)
        return {**_head(answer), "message": message, **_final(answer)}

    def render_stream(self, answer: Answer, call: ChatCall, mint: IdMint) -> list[bytes]:
        lines = [
            orjson.dumps({**_head(answer), "message": {"role": "assistant", "content": piece}, "done": False}) + b"\n"
            for piece in answer.text_chunks()
        ]
        if answer.tool_calls:  # Ollama sends tool calls whole, in one line
            message = {"role": "assistant", "content": "", "tool_calls": _tool_calls(answer)}
            lines.append(orjson.dumps({**_head(answer), "message": message, "done": False}) + b"\n")
        last = {**_head(answer), "message": {"role": "assistant", "content": ""}, **_final(answer)}
        lines.append(orjson.dumps(last) + b"\n")
        return lines

    def render_embeddings(self, call: EmbedCall, dim: int, input_tokens: int | None) -> dict[str, Any]:
        tokens = input_tokens if input_tokens is not None else sum(estimate_tokens(len(t)) for t in call.texts)
        return {
            "model": call.model,
            "embeddings": [embedding_vector(text, call.dimensions or dim) for text in call.texts],
            "total_duration": 14143917,
            "load_duration": 1019500,
            "prompt_eval_count": tokens,
        }

    def render_models(self, names: list[str]) -> dict[str, Any]:
        return {
            "models": [
                {"name": name, "model": name, "modified_at": "2025-05-01T10:00:00Z", "size": 2019393189, "digest": "0"}
                for name in names
            ]
        }

    def garbage_event(self) -> bytes:
        return b'{"model": "broken", "message": {\n'

    # --- errors -------------------------------------------------------------

    def error(self, status: int, message: str, code: str | None, retry_after: float | None = None) -> dict[str, Any]:
        return {"error": message}

    def invalid_request(self, problem: Invalid, request_id: str) -> dict[str, Any]:
        return {"error": problem.message}

    def auth_error(self) -> tuple[int, dict[str, Any]]:
        return 401, {"error": "unauthorized"}

    def context_length_error(self, call: ChatCall | None) -> tuple[int, dict[str, Any]]:
        # Ollama truncates a long prompt to num_ctx by default; asked not to, it refuses like this.
        return 400, {"error": "the input length exceeds the context length"}


def _head(answer: Answer) -> dict[str, Any]:
    stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"model": answer.model, "created_at": stamp}


def _final(answer: Answer) -> dict[str, Any]:
    reason = answer.finish_reason or "stop"
    return {
        "done": True,
        "done_reason": reason,
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": answer.input_tokens,
        "prompt_eval_duration": 342546000,
        "eval_count": answer.output_tokens,
        "eval_duration": 4535599000,
    }


def _tool_calls(answer: Answer) -> list[dict[str, Any]]:
    return [
        {"id": call.id, "function": {"index": index, "name": call.name, "arguments": call.arguments}}
        for index, call in enumerate(answer.tool_calls)
    ]
