"""The Gemini generateContent wire format: requests in, responses, SSE chunks and errors out."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from agentrt.testing._neutral import (
    Answer,
    ChatCall,
    EmbedCall,
    IdMint,
    PlannedToolCall,
    Rejection,
    embedding_vector,
    estimate_tokens,
)
from agentrt.testing._script import Api
from agentrt.testing._strict import Invalid

__all__ = ["GoogleDialect"]

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_CONTEXT_WINDOW = 1048576


class GoogleDialect:
    api: Api = "google"

    # --- requests -----------------------------------------------------------

    def request_model(self, body: Any, path_model: str | None) -> str | None:
        return path_model

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool:
        return hmac.compare_digest(headers.get("x-goog-api-key", ""), api_key) or hmac.compare_digest(
            query.get("key", ""), api_key
        )

    def parse_chat(self, body: Any, path_model: str | None, streaming_path: bool) -> ChatCall | Rejection:
        if not isinstance(body, dict):
            return Rejection("the request body must be a JSON object with 'contents'")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return Rejection("* GenerateContentRequest.contents: contents is not specified")
        system = _field(body, "systemInstruction", "system_instruction")
        input_chars = len(_text_of(system))
        last_user_text = ""
        for content in contents:
            if not isinstance(content, dict):
                return Rejection("* GenerateContentRequest.contents: each content must be an object with 'parts'")
            text = _text_of(content)
            input_chars += len(text) + _function_response_chars(content)
            if content.get("role", "user") == "user" and text:
                last_user_text = text
        tool_names: list[str] = []
        for tool in body.get("tools") or []:
            declarations = _field(tool, "functionDeclarations", "function_declarations") or []
            tool_names += [d["name"] for d in declarations if isinstance(d, dict) and "name" in d]
        config = _field(body, "generationConfig", "generation_config") or {}
        json_schema = _field(config, "responseJsonSchema", "response_json_schema")
        if not isinstance(json_schema, dict):
            openapi_schema = _field(config, "responseSchema", "response_schema")
            json_schema = _json_schema(openapi_schema) if isinstance(openapi_schema, dict) else None
        return ChatCall(
            model=path_model or "",
            stream=streaming_path,
            last_user_text=last_user_text,
            input_chars=input_chars,
            tool_names=tool_names,
            wants_json=_field(config, "responseMimeType", "response_mime_type") == "application/json",
            json_schema=json_schema,
        )

    def parse_embed(self, body: Any, path_model: str, batch: bool) -> EmbedCall | Rejection:
        if not isinstance(body, dict):
            return Rejection("the request body must be a JSON object")
        if batch:
            requests = body.get("requests")
            if not isinstance(requests, list) or not requests:
                return Rejection("* BatchEmbedContentsRequest.requests: requests is not specified")
        else:
            requests = [body]
        texts = []
        for request in requests:
            if not isinstance(request, dict) or not isinstance(request.get("content"), dict):
                return Rejection("* EmbedContentRequest.content: content is not specified")
            texts.append(_text_of(request["content"]))
        dimensions = _field(requests[0], "outputDimensionality", "output_dimensionality")
        return EmbedCall(
            model=path_model,
            texts=texts,
            dimensions=dimensions if isinstance(dimensions, int) and dimensions > 0 else None,
        )

    # --- answers ------------------------------------------------------------

    def render_reply(self, answer: Answer, mint: IdMint) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if answer.text or not answer.tool_calls:
            parts.append({"text": answer.text})
        parts += [_call_part(c) for c in answer.tool_calls]
        return _response(answer, parts, mint.next(""), final=True)

    def render_stream(self, answer: Answer, call: ChatCall, mint: IdMint) -> list[bytes]:
        response_id = mint.next("")
        part_groups: list[list[dict[str, Any]]] = [[{"text": piece}] for piece in answer.text_chunks()]
        if answer.tool_calls:
            # Gemini streams a function call whole, in one chunk, never in fragments.
            part_groups.append([_call_part(c) for c in answer.tool_calls])
        if not part_groups:
            part_groups.append([{"text": ""}])
        last = len(part_groups) - 1
        return [
            b"data: " + orjson.dumps(_response(answer, parts, response_id, final=i == last)) + b"\r\n\r\n"
            for i, parts in enumerate(part_groups)
        ]

    def render_embeddings(self, call: EmbedCall, dim: int, batch: bool) -> dict[str, Any]:
        vectors = [{"values": embedding_vector(text, call.dimensions or dim)} for text in call.texts]
        return {"embeddings": vectors} if batch else {"embedding": vectors[0]}

    def render_models(self, names: list[str]) -> dict[str, Any]:
        models = []
        for name in names:
            embeds = "embed" in name
            models.append(
                {
                    "name": f"models/{name}",
                    "version": "001",
                    "displayName": name,
                    "description": "A model served by agentrt's FakeUpstream.",
                    "inputTokenLimit": 2048 if embeds else _CONTEXT_WINDOW,
                    "outputTokenLimit": 1 if embeds else 65536,
                    "supportedGenerationMethods": (
                        ["embedContent", "batchEmbedContents"] if embeds else ["generateContent", "countTokens"]
                    ),
                }
            )
        return {"models": models}

    def garbage_event(self) -> bytes:
        return b'data: {"candidates": [{"content": \r\n\r\n'

    # --- errors -------------------------------------------------------------

    def error(self, status: int, message: str, code: str | None, retry_after: float | None = None) -> dict[str, Any]:
        kind = code or _STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        error: dict[str, Any] = {"code": status, "message": message, "status": kind}
        if retry_after is not None:
            # How Gemini itself says when to retry: a google.rpc.RetryInfo detail.
            delay = f"{retry_after:g}s"
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
        return {"error": error}

    def invalid_request(self, problem: Invalid, request_id: str) -> dict[str, Any]:
        """The 400 Gemini answers a request its API refuses, with the google.rpc.BadRequest detail it adds."""
        violation = {"description": problem.message}
        if problem.param is not None:
            violation = {"field": problem.param, **violation}
        detail = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
        return {"error": {"code": 400, "message": problem.message, "status": "INVALID_ARGUMENT", "details": [detail]}}

    def auth_error(self) -> tuple[int, dict[str, Any]]:
        return 401, self.error(401, "API key not valid. Please pass a valid API key.", None)

    def context_length_error(self, call: ChatCall | None) -> tuple[int, dict[str, Any]]:
        used = _CONTEXT_WINDOW + 1 + (estimate_tokens(call.input_chars) if call else 0)
        message = f"The input token count ({used}) exceeds the maximum number of tokens allowed ({_CONTEXT_WINDOW})."
        return 400, self.error(400, message, None)


def _call_part(call: PlannedToolCall) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
    if call.thought_signature is not None:
        part["thoughtSignature"] = call.thought_signature
    return part


def _response(answer: Answer, parts: list[dict[str, Any]], response_id: str, *, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": answer.model, "responseId": response_id}
    if final:
        candidate["finishReason"] = answer.finish_reason or "STOP"
        body["usageMetadata"] = _usage(answer)
    return body


def _usage(answer: Answer) -> dict[str, Any]:
    usage = {
        "promptTokenCount": answer.input_tokens,
        "candidatesTokenCount": answer.output_tokens,
        "totalTokenCount": answer.input_tokens + answer.output_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.input_tokens}],
    }
    if answer.cached_tokens:  # the real API leaves the field out when nothing came from the cache
        usage["cachedContentTokenCount"] = answer.cached_tokens
    return usage


def _field(obj: Any, camel: str, snake: str) -> Any:
    """Gemini's JSON accepts both spellings of a field name."""
    if not isinstance(obj, dict):
        return None
    return obj.get(camel, obj.get(snake))


def _text_of(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _function_response_chars(content: dict[str, Any]) -> int:
    parts = content.get("parts")
    if not isinstance(parts, list):
        return 0
    responses = [_field(p, "functionResponse", "function_response") for p in parts]
    return sum(len(orjson.dumps(r)) for r in responses if r is not None)


def _json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-style ``responseSchema`` (types in capitals) as a plain JSON Schema."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _json_schema(value) for key, value in schema.items() if key != "type"}
    kind = schema.get("type")
    if isinstance(kind, str) and kind.upper() != "TYPE_UNSPECIFIED":
        converted["type"] = kind.lower()
    if isinstance(schema.get("properties"), dict):
        converted["properties"] = {name: _json_schema(value) for name, value in schema["properties"].items()}
    return converted
