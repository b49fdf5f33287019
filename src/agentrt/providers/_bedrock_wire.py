"""The Bedrock Converse wire format: request bodies, answers and errors (no transport here).

How a :class:`~agentrt.types.ChatRequest` maps to a ``Converse`` body:

- system messages → ``system: [{"text": ...}]``; user and assistant messages →
  ``messages`` of content blocks; consecutive messages of one role are merged,
  because Converse wants the roles to alternate (tool results are user content);
- images → ``image`` blocks (``png``, ``jpeg``, ``gif``, ``webp``) with base64
  ``bytes``; Converse takes no image URL, so a remote URL is refused;
- assistant tool calls → ``toolUse`` blocks; tool results → ``toolResult``
  blocks (a JSON object result as ``json``, any other text as ``text``);
- tools → ``toolConfig.tools[].toolSpec`` with ``inputSchema.json``;
  ``tool_choice`` ``auto``/``required``/a name/a dict → ``auto``/``any``/``tool``/as
  given; ``none`` has no Converse equivalent: the tools are not sent (when the
  conversation holds no tool blocks, which need them) and no choice is forced;
- ``max_output_tokens``, ``temperature``, ``top_p``, ``stop`` →
  ``inferenceConfig`` ``maxTokens``, ``temperature``, ``topP``,
  ``stopSequences``; ``response_format`` with a schema →
  ``outputConfig.textFormat`` (``json_schema``), without one it cannot be said:
  adjusted with a warning (refused with ``drop_params: false``);
- ``params``: Converse's own top-level fields (``guardrailConfig``,
  ``additionalModelRequestFields``, ``performanceConfig``, ...) as given, an
  ``inferenceConfig`` dict merged into ours (its ``maxTokens`` may only lower
  the cap); OpenAI-only names are dropped (with a warning), and any other name
  (``top_k``, a model's own field) goes into ``additionalModelRequestFields``,
  where Bedrock passes it to the model.

Reasoning (Claude's extended thinking, turned on with
``additionalModelRequestFields: {thinking: {type: enabled, budget_tokens: N}}``):
the answer's ``reasoningContent`` blocks (signed text, or redacted) are kept in
the first tool call's ``provider_data`` and sent back unchanged at the start of
that assistant turn, as Bedrock requires in a tool loop; they are never text.

Answers: ``stopReason`` ``end_turn``/``stop_sequence`` → ``stop``, ``tool_use``
→ ``tool_calls``, ``max_tokens`` → ``length``, ``guardrail_intervened`` and
``content_filtered`` → ``content_filter``, the others → ``stop``. Usage:
``inputTokens`` (plus the cache reads and writes, which Converse counts apart),
``outputTokens``, and ``cacheReadInputTokens`` as the cached part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from agentrt.providers._errors import ErrorInfo
from agentrt.providers._media import guess_media_type, inline_image
from agentrt.providers._params import OPENAI_ONLY, ParamGuard
from agentrt.types import ChatRequest, ImagePart, Message, ToolCall, Usage

__all__ = [
    "BEDROCK_REASONING",
    "CONTROLLED",
    "STATUS_OF_EXCEPTION",
    "converse_body",
    "finish_reason",
    "keep_reasoning",
    "read_bedrock_error",
    "usage_of",
]

CONTROLLED = ("modelId", "messages", "system", "toolConfig", "stream")
BEDROCK_REASONING = "bedrock_reasoning"
"""The ``ToolCall.provider_data`` key of the reasoning blocks that preceded a response's tool calls."""
_TOP_LEVEL = frozenset(
    {
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
        "projectIdentifier",
    }
)
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
# The error of an HTTP answer is named by its x-amzn-ErrorType header; in a stream by the exception event.
STATUS_OF_EXCEPTION = {
    "throttlingException": 429,
    "serviceUnavailableException": 503,
    "internalServerException": 500,
    "modelStreamErrorException": 500,
    "validationException": 400,
}
_CONTEXT_WORDS = ("too long", "input is too long", "context window", "too many input tokens", "prompt is too long")


def converse_body(request: ChatRequest, *, guard: ParamGuard) -> dict[str, Any]:
    """The Converse (and ConverseStream) body for ``request``."""
    model = request.model
    params, cap = guard.split(request.params, request.max_output_tokens, model=model)
    system = [{"text": m.text} for m in request.messages if m.role == "system" and m.text]
    messages = _messages(request.messages, guard, model)
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    extra_inference = params.pop("inferenceConfig", None)
    if isinstance(extra_inference, dict):
        extra_inference = dict(extra_inference)
        own_cap = {"maxTokens": extra_inference.pop("maxTokens")} if "maxTokens" in extra_inference else {}
        cap = guard.cap(cap, own_cap, model=model)
        inference.update(extra_inference)
    if cap is not None:
        inference["maxTokens"] = cap
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    stop = request.stop or params.pop("stop", None)
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request, messages)
    if tool_config:
        body["toolConfig"] = tool_config
    format_ = request.response_format
    if format_ is not None:
        if format_.schema is not None:
            schema = {"schema": orjson.dumps(format_.schema).decode(), "name": format_.name}
            body["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": schema}}}
        else:
            guard.relax(
                "response_format",
                "Converse has no JSON mode without a schema; the request is sent without it (ask for JSON in the "
                "prompt, or give response_format a schema)",
                model=model,
            )
    guard.drop(params, OPENAI_ONLY, model=model)
    model_fields = {key: params.pop(key) for key in list(params) if key not in _TOP_LEVEL}
    body.update(params)
    if model_fields:
        body["additionalModelRequestFields"] = {**body.get("additionalModelRequestFields", {}), **model_fields}
    return body


def _tool_config(request: ChatRequest, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not request.tools:
        return None
    has_tool_blocks = any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])
    choice = request.tool_choice
    if choice == "none" and not has_tool_blocks:
        return None
    config: dict[str, Any] = {
        "tools": [
            {
                "toolSpec": {
                    "name": t.name,
                    "description": t.description or t.name,
                    "inputSchema": {"json": t.parameters},
                }
            }
            for t in request.tools
        ]
    }
    if isinstance(choice, dict):
        config["toolChoice"] = choice
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, str) and choice != "none":
        config["toolChoice"] = {"tool": {"name": choice}}
    return config


def _messages(messages: list[Message], guard: ParamGuard, model: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message, guard, model)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)  # Converse wants the roles to alternate
        else:
            out.append({"role": role, "content": blocks})
    return out


def _blocks(message: Message, guard: ParamGuard, model: str) -> list[dict[str, Any]]:
    if message.role == "tool":
        result = _tool_result_content(message.text)
        return [{"toolResult": {"toolUseId": message.tool_call_id or "", "content": [result]}}]
    blocks: list[dict[str, Any]] = []
    if isinstance(message.content, str):
        if message.content:
            blocks.append({"text": message.content})
    else:
        for part in message.content:
            if isinstance(part, ImagePart):
                blocks.append({"image": _image(part, guard, model)})
            elif part.text:
                blocks.append({"text": part.text})
    for index, call in enumerate(message.tool_calls):
        reasoning = (call.provider_data or {}).get(BEDROCK_REASONING)
        if index == 0 and isinstance(reasoning, list):
            blocks[:0] = reasoning  # the signed reasoning opens the turn, unchanged
        blocks.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}})
    return blocks


def keep_reasoning(calls: list[ToolCall], reasoning: list[dict[str, Any]]) -> None:
    """Keep the answer's reasoning blocks with its first tool call, to be sent back with it."""
    if calls and reasoning:
        first = calls[0]
        first.provider_data = {**(first.provider_data or {}), BEDROCK_REASONING: reasoning}


def _tool_result_content(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text) if text.lstrip().startswith("{") else None
    except orjson.JSONDecodeError:
        value = None
    return {"json": value} if isinstance(value, dict) else {"text": text}


def _image(part: ImagePart, guard: ParamGuard, model: str) -> dict[str, Any]:
    inline = inline_image(part)
    if inline is None:
        raise guard.refuse(
            "Bedrock Converse takes images as bytes only, not by URL; pass the image's bytes (ImagePart(data=...))",
            model,
            param="messages",
        )
    media_type, data = inline
    image_format = _FORMATS.get((guess_media_type(part) or media_type).lower()) or _FORMATS.get(media_type.lower())
    if image_format is None:
        raise guard.refuse(
            f"Bedrock Converse takes png, jpeg, gif or webp images, not {media_type}", model, param="messages"
        )
    return {"format": image_format, "source": {"bytes": data}}


def finish_reason(reason: Any, *, has_calls: bool) -> str | None:
    if reason is None:
        return None
    mapped = _FINISH.get(str(reason), "stop")
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def usage_of(usage: Mapping[str, Any] | None) -> Usage:
    if not usage:
        return Usage()
    read = int(usage.get("cacheReadInputTokens") or 0)
    written = int(usage.get("cacheWriteInputTokens") or 0)
    return Usage(
        input_tokens=int(usage.get("inputTokens") or 0) + read + written,
        output_tokens=int(usage.get("outputTokens") or 0),
        cached_tokens=read,
    )


def read_bedrock_error(body: Any) -> ErrorInfo | None:
    """Bedrock's ``{"message": ...}`` (``Message`` in some answers); the exception's name is in a header."""
    if not isinstance(body, dict):
        return None
    message = body.get("message", body.get("Message"))
    if not isinstance(message, str):
        return None
    lowered = message.lower()
    context = any(words in lowered for words in _CONTEXT_WORDS)
    return ErrorInfo(message=message, context_length=context)
