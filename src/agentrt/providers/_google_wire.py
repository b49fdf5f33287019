"""The Gemini ``generateContent`` wire format: the request body, answers' parts, usage and errors.

The client (:mod:`agentrt.providers.google`) documents the mapping; this
module only builds and reads the JSON.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from agentrt.errors import ProviderBadRequest
from agentrt.providers._errors import ErrorInfo, parse_duration_hint
from agentrt.providers._media import guess_media_type, inline_image
from agentrt.providers._params import OPENAI_ONLY, ParamGuard
from agentrt.types import ChatRequest, ImagePart, Message, ToolCall, Usage

__all__ = [
    "SYNTHETIC_ID_PREFIX",
    "THOUGHT_SIGNATURE",
    "finish_reason",
    "generate_body",
    "read_google_error",
    "synthetic_id",
    "usage_of",
]

THOUGHT_SIGNATURE = "thoughtSignature"
"""The ``ToolCall.provider_data`` key (and the wire name) of a Gemini call's thought signature."""
SYNTHETIC_ID_PREFIX = "gemini_call_"
"""Gemini often gives function calls no id; ours start with this, and are not sent back."""

# Fields of the request itself; every other parameter belongs in generationConfig.
# Gemini's JSON accepts both spellings of a field name.
_TOP_LEVEL = frozenset(
    {
        "contents",
        "tools",
        "toolConfig",
        "tool_config",
        "safetySettings",
        "safety_settings",
        "systemInstruction",
        "system_instruction",
        "cachedContent",
        "cached_content",
        "labels",
        "serviceTier",
        "service_tier",
    }
)
_GENERATION_CONFIG = ("generationConfig", "generation_config")
CONTROLLED = ("model", "contents", "stream", "systemInstruction", "system_instruction")
"""Body fields agentrt sets, which ``params`` may not."""
_CAPS_IN_CONFIG = ("maxOutputTokens", "max_output_tokens")
_COUNTS_IN_CONFIG = ("candidateCount", "candidate_count")
# OpenAI parameters with a generationConfig equivalent of another name.
_RENAMED = {
    "stop": "stopSequences",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
    "top_logprobs": "logprobs",
}
_SERVICE_TIERS = {"default": "standard", "standard": "standard", "flex": "flex", "priority": "priority"}
_THINKING_LEVELS = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "xhigh": "XHIGH"}
_OPENAI_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "LANGUAGE",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
    }
)
_BAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
_CONTEXT = re.compile(r"exceeds? the maximum number of tokens|token count.*exceed|too many tokens", re.I)


def generate_body(request: ChatRequest, *, provider: str, guard: ParamGuard) -> dict[str, Any]:
    """The ``generateContent`` body for ``request`` (``params`` placed as described in the client)."""
    params, cap = guard.split(request.params, request.max_output_tokens, model=request.model)
    translated = _translate(params, guard, request.model)
    caps = {name: translated.pop(name) for name in _CAPS_IN_CONFIG if name in translated}
    cap = guard.cap(cap, caps, model=request.model)
    for name in _COUNTS_IN_CONFIG:
        guard.check_n(translated.pop(name, None), f"generationConfig.{name}", request.model)
    system = [m.text for m in request.messages if m.role == "system" and m.text]
    names_of_calls: dict[str, str] = {}  # tool call id -> tool name, for results given without one
    contents: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        for call in message.tool_calls:
            names_of_calls[call.id] = call.name
        role = "model" if message.role == "assistant" else "user"
        parts = _parts(message, names_of_calls, provider, request.model)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)  # e.g. the results of parallel calls: one turn
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if request.tools:
        declarations = [
            {"name": t.name, "description": t.description, "parametersJsonSchema": t.parameters} for t in request.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    choice = request.tool_choice
    if isinstance(choice, str):
        mode = _TOOL_MODES.get(choice)
        config: dict[str, Any] = {"mode": mode} if mode else {"mode": "ANY", "allowedFunctionNames": [choice]}
        body["toolConfig"] = {"functionCallingConfig": config}
    elif choice is not None:
        body["toolConfig"] = choice
    generation: dict[str, Any] = {}
    if cap is not None:
        generation["maxOutputTokens"] = cap
    if request.temperature is not None:
        generation["temperature"] = request.temperature
    if request.top_p is not None:
        generation["topP"] = request.top_p
    if request.stop:
        generation["stopSequences"] = request.stop
    if request.response_format is not None:
        generation["responseMimeType"] = "application/json"
        if request.response_format.schema is not None:
            generation["responseJsonSchema"] = request.response_format.schema
    generation.update(translated)
    for key, value in params.items():
        if key == "tools" and isinstance(value, list):
            body["tools"] = [*body.get("tools", ()), *value]  # e.g. googleSearch next to our functions
        elif key in _TOP_LEVEL:
            body[key] = value
        else:
            generation[key] = value
    if generation:
        body["generationConfig"] = generation
    return body


def _translate(params: dict[str, Any], guard: ParamGuard, model: str) -> dict[str, Any]:
    """Take out of ``params`` what goes into generationConfig by translation, and drop OpenAI's others.

    Returns those generationConfig fields, a caller's ``generationConfig`` dict merged in.
    """
    config: dict[str, Any] = {}
    for key in _GENERATION_CONFIG:
        value = params.get(key)
        if isinstance(value, dict):
            config.update(params.pop(key))
    if not params:
        return config
    for openai_name, gemini_name in _RENAMED.items():
        if openai_name in params and (openai_name != "top_logprobs" or "logprobs" in params):
            value = params.pop(openai_name)
            config[gemini_name] = [value] if openai_name == "stop" and isinstance(value, str) else value
    logprobs = params.get("logprobs")
    if isinstance(logprobs, bool):  # OpenAI's switch
        config["responseLogprobs"] = params.pop("logprobs")
    elif isinstance(logprobs, int):  # Gemini's own: how many candidates per token, kept as given
        config["logprobs"] = params.pop("logprobs")
    if "seed" in params:
        config["seed"] = params.pop("seed")
    tier = params.get("service_tier")
    if isinstance(tier, str) and tier in _SERVICE_TIERS:
        params["serviceTier"] = _SERVICE_TIERS[params.pop("service_tier")]
    level = params.get("reasoning_effort")
    if isinstance(level, str) and level in _THINKING_LEVELS:
        del params["reasoning_effort"]
        config["thinkingConfig"] = {**config.get("thinkingConfig", {}), "thinkingLevel": _THINKING_LEVELS[level]}
    response_format = params.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in _OPENAI_RESPONSE_FORMATS:
        raise ProviderBadRequest(
            f"{guard.provider}: model {model!r}: params['response_format'] is OpenAI's; pass it as the call's "
            "response_format, which agentrt translates for Gemini",
            provider=guard.provider,
            model=model,
            status=400,
        )
    guard.drop(
        params,
        OPENAI_ONLY - {"response_format"},
        model=model,
        why=" (OpenAI-only parameters with no Gemini equivalent)",
    )
    return config


def _parts(message: Message, names: Mapping[str, str], provider: str, model: str) -> list[dict[str, Any]]:
    if message.role == "tool":
        name = message.name or names.get(message.tool_call_id or "")
        if not name:
            raise ProviderBadRequest(
                f"{provider}: Gemini needs the tool's name with each tool result; "
                "build it with Message.tool(call_id, content, name=...)",
                provider=provider,
                model=model,
            )
        response: dict[str, Any] = {"name": name, "response": _tool_output(message.text)}
        if message.tool_call_id and not message.tool_call_id.startswith(SYNTHETIC_ID_PREFIX):
            response["id"] = message.tool_call_id
        return [{"functionResponse": response}]
    parts: list[dict[str, Any]] = []
    if isinstance(message.content, str):
        if message.content:
            parts.append({"text": message.content})
    else:
        for part in message.content:
            if isinstance(part, ImagePart):
                parts.append(_image(part))
            elif part.text:
                parts.append({"text": part.text})
    parts.extend(_call_part(call) for call in message.tool_calls)
    return parts


def _tool_output(text: str) -> dict[str, Any]:
    # Gemini wants an object: a result that is a JSON object goes as is, anything else under "output".
    try:
        value = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"output": text}


def _call_part(call: ToolCall) -> dict[str, Any]:
    function: dict[str, Any] = {"name": call.name, "args": call.arguments}
    if not call.id.startswith(SYNTHETIC_ID_PREFIX):
        function["id"] = call.id
    part: dict[str, Any] = {"functionCall": function}
    signature = (call.provider_data or {}).get(THOUGHT_SIGNATURE)
    if signature:
        part[THOUGHT_SIGNATURE] = signature  # Gemini 3 refuses its calls sent back without it
    return part


def _image(part: ImagePart) -> dict[str, Any]:
    inline = inline_image(part)
    if inline is not None:
        media_type, data = inline
        return {"inlineData": {"mimeType": media_type, "data": data}}
    file_data: dict[str, Any] = {"fileUri": part.url}
    guessed = guess_media_type(part)
    if guessed:
        file_data["mimeType"] = guessed
    return {"fileData": file_data}


# --- the answer ------------------------------------------------------------------------


def synthetic_id(response_id: str, index: int, name: str, arguments: Mapping[str, Any]) -> str:
    """A stable id for a function call Gemini gave none: the same answer always yields the same ids."""
    digest = hashlib.blake2b(digest_size=6)
    digest.update(f"{response_id}\x00{index}\x00{name}\x00".encode())
    digest.update(orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS))
    return f"{SYNTHETIC_ID_PREFIX}{index}_{digest.hexdigest()}"


def usage_of(metadata: Any) -> Usage:
    """``usageMetadata`` as our usage; thinking tokens are billed as output, tool-use prompts as input."""
    if not isinstance(metadata, dict):
        return Usage()
    return Usage(
        input_tokens=int(metadata.get("promptTokenCount") or 0) + int(metadata.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(metadata.get("candidatesTokenCount") or 0) + int(metadata.get("thoughtsTokenCount") or 0),
        cached_tokens=int(metadata.get("cachedContentTokenCount") or 0),
    )


def finish_reason(reason: Any, *, has_calls: bool) -> str | None:
    """Gemini's ``finishReason`` in OpenAI's words (``stop``, ``length``, ``tool_calls``, ``content_filter``).

    The safety, recitation, blocklist and language reasons are ``content_filter``;
    every other one (``MALFORMED_FUNCTION_CALL``, ``OTHER``, newer ones) is ``stop``,
    or ``tool_calls`` when the answer holds calls: OpenAI clients know only their own words.
    """
    if reason is None:
        return None
    text = str(reason)
    if text in _FILTERED:
        return "content_filter"
    if text == "MAX_TOKENS":
        return "length"
    return "tool_calls" if has_calls else "stop"  # Gemini says STOP when it asks for function calls


def read_google_error(body: Any) -> ErrorInfo | None:
    """Google's ``{"error": {"code", "message", "status", "details"}}`` (streams wrap it in a list)."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    message = str(error.get("message") or "")
    status = str(error.get("status") or "") or None
    retry_after = None
    bad_key = False
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.RetryInfo"):
            retry_after = parse_duration_hint(str(detail.get("retryDelay") or ""))
        elif kind.endswith("google.rpc.ErrorInfo") and detail.get("reason") in _BAD_KEY_REASONS:
            bad_key = True  # Gemini answers a wrong or expired key with 400 INVALID_ARGUMENT
    context = status in (None, "INVALID_ARGUMENT") and bool(_CONTEXT.search(message))
    return ErrorInfo(
        message=message, code=status, context_length=context, retry_after=retry_after, bad_key=bad_key
    )
