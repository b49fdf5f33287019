"""The Anthropic Messages wire format: the request body, usage, stop reasons and errors.

The client (:mod:`agentrt.providers.anthropic`) documents the mapping; this
module only builds and reads the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agentrt.errors import ProviderBadRequest
from agentrt.providers._errors import ErrorInfo
from agentrt.providers._media import inline_image
from agentrt.providers._params import OPENAI_ONLY, ParamGuard
from agentrt.types import ChatRequest, ImagePart, Message, ToolSpec, Usage

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "STATUS_OF_ERROR_TYPE",
    "THINKING_BLOCKS",
    "JsonOutput",
    "OutputTool",
    "count_usage",
    "finish_reason",
    "messages_body",
    "read_anthropic_error",
    "usage_of",
]

DEFAULT_MAX_TOKENS = 4096
THINKING_BLOCKS = "anthropic_thinking"
"""The ``ToolCall.provider_data`` key of the thinking blocks that preceded a response's tool calls."""
JsonOutput = Literal["native", "tool"]

_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "refusal",
    "pause_turn": "stop",  # a server tool's long turn paused: what came so far is the answer
}
CONTROLLED = ("model", "messages", "stream", "system")
"""Body fields agentrt sets, which ``params`` may not."""
# OpenAI's service tiers in Anthropic's words; the others (flex, scale, priority) have no equivalent.
_SERVICE_TIERS = {"auto": "auto", "standard_only": "standard_only", "default": "standard_only"}
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
_THINKING_ON = ("enabled", "adaptive")
_TOOL_CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
# Mid-stream errors come without a status: the error's type says which one it would have been.
STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "billing_error": 402,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_CONTEXT_WORDS = ("prompt is too long", "exceed context limit", "context window")
_JSON_INSTRUCTION = "Reply with one JSON object and nothing else: no prose, no code fences."
_OUTPUT_TOOL_DESCRIPTION = "Give your final answer by calling this tool once, with the answer as its input."


@dataclass(slots=True, frozen=True)
class OutputTool:
    """The forced tool that carries a JSON answer; ``wrapped``: the answer sits under ``value``."""

    name: str
    wrapped: bool


def messages_body(
    request: ChatRequest,
    *,
    guard: ParamGuard,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    json_output: JsonOutput = "native",
) -> tuple[dict[str, Any], OutputTool | None]:
    """The Messages API body for ``request``, and the output tool that carries a JSON answer if one is used."""
    params, cap = guard.split(request.params, request.max_output_tokens, model=request.model)
    system = [m.text for m in request.messages if m.role == "system" and m.text]
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": cap or default_max_tokens,
        "messages": turns,
    }
    tools = [_tool(t) for t in request.tools]
    choice = request.tool_choice
    tool_choice: Any = (
        _TOOL_CHOICES.get(choice, {"type": "tool", "name": choice}) if isinstance(choice, str) else choice
    )
    output: OutputTool | None = None
    format_ = request.response_format
    if format_ is not None:
        if json_output == "native" and format_.schema is not None:
            body["output_config"] = {"format": {"type": "json_schema", "schema": format_.schema}}
        elif json_output == "native":
            system.append(_JSON_INSTRUCTION)  # structured outputs need a schema
        else:
            schema, wrapped = _output_tool_schema(format_.schema)
            taken = {t.name for t in request.tools}
            name = format_.name
            while name in taken:  # never shadow one of the caller's tools
                name += "_"
            output = OutputTool(name=name, wrapped=wrapped)
            tools.append({"name": name, "description": _OUTPUT_TOOL_DESCRIPTION, "input_schema": schema})
            if tool_choice is None:
                tool_choice = {"type": "any"} if request.tools else {"type": "tool", "name": name}
    if system:
        body["system"] = "\n\n".join(system)
    if tools:
        body["tools"] = tools
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    if request.temperature is not None:
        body["temperature"] = request.temperature
        if request.temperature > 1:  # OpenAI's scale goes to 2, Anthropic's to 1
            guard.relax(
                "temperature",
                f"Anthropic takes a temperature from 0 to 1, so {request.temperature:g} is sent as 1",
                model=request.model,
            )
            body["temperature"] = 1.0
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = request.stop
    if params:
        _merge_params(body, params, guard, request.model)
    _no_forced_tool_while_thinking(body, guard, request.model)
    _within_thinking_limits(body, guard, request.model)
    return body, output


def _within_thinking_limits(body: dict[str, Any], guard: ParamGuard, model: str) -> None:
    """Extended thinking rules out sampling settings OpenAI clients send routinely (a client cannot know
    the model thinks): adjust them as Anthropic allows, and refuse, in our words, what cannot be adjusted."""
    thinking = body.get("thinking")
    if not (isinstance(thinking, dict) and thinking.get("type") in _THINKING_ON):
        return
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        guard.relax(
            "temperature",
            f"Anthropic takes no temperature but 1 with extended thinking on, so temperature {temperature:g} "
            "is not sent",
            model=model,
        )
        del body["temperature"]
    top_p = body.get("top_p")
    if isinstance(top_p, int | float) and not 0.95 <= top_p <= 1:
        guard.relax(
            "top_p",
            f"Anthropic takes a top_p from 0.95 to 1 with extended thinking on, so top_p {top_p:g} is sent as 0.95",
            model=model,
        )
        body["top_p"] = 0.95
    if "top_k" in body:
        guard.relax("top_k", "Anthropic takes no top_k with extended thinking on, so it is not sent", model=model)
        del body["top_k"]
    budget = thinking.get("budget_tokens")
    if isinstance(budget, int) and budget >= body["max_tokens"]:
        # The output cap may be a policy's hold: it is never raised to make room for the thinking.
        raise guard.refuse(
            f"extended thinking needs max_tokens above its budget_tokens ({budget}), and max_tokens is "
            f"{body['max_tokens']}: ask for more than {budget} output tokens, or use a model without thinking",
            model,
            param="max_tokens",
        )


def _no_forced_tool_while_thinking(body: dict[str, Any], guard: ParamGuard, model: str) -> None:
    """Anthropic refuses a forced tool choice (``any``, ``tool``) with extended thinking on: ask with
    ``auto``, as OpenAI clients force tools routinely (Pydantic AI's output tool, ``required``)."""
    thinking = body.get("thinking")
    choice = body.get("tool_choice")
    if not (isinstance(thinking, dict) and thinking.get("type") in _THINKING_ON):
        return
    if not (isinstance(choice, dict) and choice.get("type") in ("any", "tool")):
        return
    guard.relax(
        "tool_choice",
        f"Anthropic refuses tool_choice {choice.get('type')!r} with extended thinking on, so it is sent as 'auto'",
        model=model,
    )
    relaxed = {key: value for key, value in choice.items() if key not in ("type", "name")}
    body["tool_choice"] = {"type": "auto", **relaxed}


def _merge_params(body: dict[str, Any], params: dict[str, Any], guard: ParamGuard, model: str) -> None:
    """Translate the OpenAI parameters Anthropic has an equivalent for, drop the others, merge the rest."""
    if "response_format" in params:
        raise ProviderBadRequest(
            f"{guard.provider}: model {model!r}: params['response_format'] is OpenAI's; pass it as the call's "
            "response_format, which agentrt translates for Anthropic",
            provider=guard.provider,
            model=model,
            status=400,
        )
    stop = params.pop("stop", None)
    if stop:
        body["stop_sequences"] = [*body.get("stop_sequences", ()), *([stop] if isinstance(stop, str) else stop)]
    parallel = params.pop("parallel_tool_calls", None)  # true is Anthropic's default; without tools, moot
    if parallel is False and "tools" in body:
        choice = body.get("tool_choice") or {"type": "auto"}
        if choice.get("type") != "none":
            body["tool_choice"] = {**choice, "disable_parallel_tool_use": True}
    metadata = params.get("metadata")
    if isinstance(metadata, dict) and set(metadata) <= {"user_id"}:  # Anthropic's own shape
        body["metadata"] = dict(params.pop("metadata"))
    if isinstance(params.get("user"), str):  # OpenAI's end-user id; its free-form metadata is dropped below
        body.setdefault("metadata", {}).setdefault("user_id", params.pop("user"))
    tier = params.get("service_tier")
    if isinstance(tier, str) and tier in _SERVICE_TIERS:
        body["service_tier"] = _SERVICE_TIERS[tier]
        del params["service_tier"]
    effort = params.get("reasoning_effort")
    if isinstance(effort, str) and effort in _EFFORTS:
        body["output_config"] = {**body.get("output_config", {}), "effort": effort}
        del params["reasoning_effort"]
    guard.drop(params, OPENAI_ONLY, model=model, why=" (OpenAI-only parameters with no Anthropic equivalent)")
    for key, value in params.items():
        # output_config holds more than the format (effort): merge rather than replace it.
        if key == "output_config" and isinstance(value, dict) and "output_config" in body:
            body[key] = {**body[key], **value}
        else:
            body[key] = value


def _tool(tool: ToolSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
    if tool.strict is not None:
        out["strict"] = tool.strict
    return out


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text}]
    blocks: list[dict[str, Any]] = []
    if isinstance(message.content, str):
        if message.content:
            blocks.append({"type": "text", "text": message.content})
    else:
        for part in message.content:
            if isinstance(part, ImagePart):
                blocks.append({"type": "image", "source": _image_source(part)})
            elif part.text:  # the API refuses empty text blocks
                blocks.append({"type": "text", "text": part.text})
    for index, call in enumerate(message.tool_calls):
        # With extended thinking, the thinking that led to the calls must come back unchanged, in its
        # place: the first call's opens the turn, an interleaved one goes just before its call.
        thinking = (call.provider_data or {}).get(THINKING_BLOCKS)
        if isinstance(thinking, list):
            if index == 0:
                blocks[:0] = thinking
            else:
                blocks.extend(thinking)
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
    return blocks


def _image_source(part: ImagePart) -> dict[str, Any]:
    inline = inline_image(part)
    if inline is not None:
        media_type, data = inline
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": part.url}


def _output_tool_schema(schema: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    if schema is None:
        return {"type": "object", "additionalProperties": True}, False
    if schema.get("type") == "object":
        return schema, False
    # Tool inputs must be objects: put the schema under "value", keeping $defs at the root
    # where its "#/$defs/..." references point.
    inner = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
    wrapped: dict[str, Any] = {"type": "object", "properties": {"value": inner}, "required": ["value"]}
    for key in ("$defs", "definitions"):
        if key in schema:
            wrapped[key] = schema[key]
    return wrapped, True


# --- the answer ------------------------------------------------------------------------

_USAGE_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


def count_usage(usage: Any, counts: dict[str, int]) -> None:
    """Take the counts of a message's or a ``message_delta``'s usage: they are cumulative, the last wins."""
    if not isinstance(usage, dict):
        return
    for field in _USAGE_FIELDS:
        value = usage.get(field)
        if value is not None:
            counts[field] = int(value)


def usage_of(counts: Mapping[str, int]) -> Usage:
    """Our usage: Anthropic counts cache reads and writes apart from ``input_tokens``, ours include them."""
    read = counts.get("cache_read_input_tokens", 0)
    return Usage(
        input_tokens=counts.get("input_tokens", 0) + read + counts.get("cache_creation_input_tokens", 0),
        output_tokens=counts.get("output_tokens", 0),
        cached_tokens=read,
    )


def finish_reason(reason: Any) -> str | None:
    """Anthropic's ``stop_reason`` in OpenAI's words (``stop``, ``length``, ``tool_calls``, ``refusal``).

    A reason this version does not know is ``stop``: OpenAI clients know only their own words.
    """
    if reason is None:
        return None
    return _FINISH_REASONS.get(str(reason), "stop")


def read_anthropic_error(body: Any) -> ErrorInfo | None:
    """Anthropic's ``{"type": "error", "error": {"type", "message"}}``."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    message = str(error.get("message") or "")
    lowered = message.lower()
    kind = str(error.get("type")) if error.get("type") else None
    return ErrorInfo(
        message=message,
        code=kind,
        context_length=any(words in lowered for words in _CONTEXT_WORDS),
        quota_exhausted=kind == "billing_error" or "credit balance is too low" in lowered,
    )
