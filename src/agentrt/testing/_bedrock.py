"""The Bedrock Converse wire format: requests in, answers, event-stream frames and errors out.

Answers follow the Converse API reference: ``output.message.content`` blocks,
``stopReason``, ``usage``, ``metrics``; a ConverseStream answer is AWS's binary
event stream (``messageStart``, ``contentBlockStart``/``Delta``/``Stop``,
``messageStop``, ``metadata``), framed by :mod:`agentrt.providers._eventstream`.
An error is ``{"message": ...}`` with the exception's name in the
``x-amzn-ErrorType`` header, as the real service answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from agentrt.providers._eventstream import encode_message
from agentrt.testing._neutral import Answer, ChatCall, IdMint, Rejection
from agentrt.testing._script import Api
from agentrt.testing._strict import Invalid

__all__ = ["ERROR_TYPES", "BedrockDialect", "exception_frame"]

ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_FINISH = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "content_filtered"}


class BedrockDialect:
    api: Api = "bedrock"
    stream_content_type = "application/vnd.amazon.eventstream"

    # --- requests -----------------------------------------------------------

    def request_model(self, body: Any, path_model: str | None) -> str | None:
        return path_model

    def authorized(self, headers: Mapping[str, str], query: Mapping[str, str], api_key: str) -> bool:
        return True  # SigV4 is checked apart, on the whole request (see _strict_bedrock.check_signature)

    def parse_chat(self, body: Any, path_model: str | None, streaming_path: bool) -> ChatCall | Rejection:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return Rejection("1 validation error detected: Value null at 'messages' failed to satisfy constraint")
        input_chars = sum(len(block.get("text", "")) for block in body.get("system") or [] if isinstance(block, dict))
        last_user_text = ""
        for message in body["messages"]:
            blocks = message.get("content") if isinstance(message, dict) else None
            for block in blocks if isinstance(blocks, list) else ():
                if not isinstance(block, dict):
                    continue
                if isinstance(block.get("text"), str):
                    input_chars += len(block["text"])
                    if message.get("role") == "user":
                        last_user_text = block["text"]
                elif "toolResult" in block:
                    input_chars += len(orjson.dumps(block["toolResult"]))
        tools = (body.get("toolConfig") or {}).get("tools") or []
        names = [t["toolSpec"]["name"] for t in tools if isinstance(t, dict) and "toolSpec" in t]
        schema = None
        text_format = (body.get("outputConfig") or {}).get("textFormat") or {}
        if text_format.get("type") == "json_schema":
            raw = ((text_format.get("structure") or {}).get("jsonSchema") or {}).get("schema")
            try:
                schema = orjson.loads(raw) if isinstance(raw, str) else None
            except orjson.JSONDecodeError:
                return Rejection("The JSON schema in outputConfig.textFormat is not valid JSON.")
        thinking = ((body.get("additionalModelRequestFields") or {}).get("thinking") or {}).get("type")
        return ChatCall(
            model=path_model or "",
            stream=streaming_path,
            last_user_text=last_user_text,
            input_chars=input_chars,
            tool_names=names,
            wants_json=schema is not None,
            json_schema=schema if isinstance(schema, dict) else None,
            thinking=thinking in ("enabled", "adaptive"),  # Claude's extended thinking, through Bedrock
        )

    # --- answers ------------------------------------------------------------

    def render_reply(self, answer: Answer, mint: IdMint) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if answer.thinking is not None:
            reasoning = {"text": answer.thinking, "signature": answer.thinking_signature}
            content.append({"reasoningContent": {"reasoningText": reasoning}})
        if answer.text or not answer.tool_calls:
            content.append({"text": answer.text})
        content += [{"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.arguments}} for c in answer.tool_calls]
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": _stop_reason(answer),
            "usage": _usage(answer),
            "metrics": {"latencyMs": 42},
        }

    def render_stream(self, answer: Answer, call: ChatCall, mint: IdMint) -> list[bytes]:
        frames = [_event("messageStart", {"role": "assistant"})]
        index = 0
        if answer.thinking is not None:
            for piece in [
                answer.thinking[i : i + answer.chunk_size] for i in range(0, len(answer.thinking), answer.chunk_size)
            ]:
                delta = {"reasoningContent": {"text": piece}}
                frames.append(_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}))
            signed = {"reasoningContent": {"signature": answer.thinking_signature}}
            frames.append(_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": signed}))
            frames.append(_event("contentBlockStop", {"contentBlockIndex": 0}))
            index = 1
        if answer.text or not answer.tool_calls:
            for piece in answer.text_chunks() or [""]:
                frames.append(_event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}}))
            frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        for offset, tool_call in enumerate(answer.tool_calls):
            block = index + offset
            start = {"toolUse": {"toolUseId": tool_call.id, "name": tool_call.name}}
            frames.append(_event("contentBlockStart", {"contentBlockIndex": block, "start": start}))
            arguments = tool_call.arguments_json
            for at in range(0, len(arguments), answer.chunk_size):
                delta = {"toolUse": {"input": arguments[at : at + answer.chunk_size]}}
                frames.append(_event("contentBlockDelta", {"contentBlockIndex": block, "delta": delta}))
            frames.append(_event("contentBlockStop", {"contentBlockIndex": block}))
        frames.append(_event("messageStop", {"stopReason": _stop_reason(answer)}))
        frames.append(_event("metadata", {"usage": _usage(answer), "metrics": {"latencyMs": 42}}))
        return frames

    def garbage_event(self) -> bytes:
        frame = bytearray(_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}}))
        frame[-1] ^= 0xFF  # a message CRC that does not match
        return bytes(frame)

    # --- errors -------------------------------------------------------------

    def error(self, status: int, message: str, code: str | None, retry_after: float | None = None) -> dict[str, Any]:
        return {"message": message}

    def error_headers(self, status: int, code: str | None) -> dict[str, str]:
        kind = code or ERROR_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
        return {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}

    def invalid_request(self, problem: Invalid, request_id: str) -> dict[str, Any]:
        return {"message": problem.message}

    def auth_error(self) -> tuple[int, dict[str, Any]]:
        return 403, {"message": "The security token included in the request is invalid."}

    def context_length_error(self, call: ChatCall | None) -> tuple[int, dict[str, Any]]:
        return 400, {"message": "Input is too long for requested model."}


def _event(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    # The real service pads each payload with a "p" field of varying length, so sizes leak nothing.
    return encode_message(headers, orjson.dumps({**payload, "p": "abcdefgh"[: len(event_type) % 8]}))


def exception_frame(exception_type: str, message: str) -> bytes:
    """A stream's exception event (``throttlingException``, ``validationException``, ...)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, orjson.dumps({"message": message}))


def _stop_reason(answer: Answer) -> str:
    if answer.finish_reason is not None:
        return _FINISH.get(answer.finish_reason, answer.finish_reason)
    return "tool_use" if answer.tool_calls else "end_turn"


def _usage(answer: Answer) -> dict[str, Any]:
    usage = {
        "inputTokens": answer.input_tokens - answer.cached_tokens,
        "outputTokens": answer.output_tokens,
        "totalTokens": answer.input_tokens + answer.output_tokens,
    }
    if answer.cached_tokens:
        usage["cacheReadInputTokens"] = answer.cached_tokens
    return usage
