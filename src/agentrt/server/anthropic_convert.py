"""Anthropic Messages requests to agentrt's call types (the answers: :mod:`agentrt.server.anthropic_answer`,
the stream's events: :mod:`agentrt.server.anthropic_events`).

Any configured model serves ``/v1/messages``: the request becomes agentrt's
provider-neutral messages, tools and parameters, and the pipeline translates
them for the model's own provider, as for any other call.

- ``system`` (a string or text blocks) is one system message; a user turn's
  ``tool_result`` blocks become tool messages, its text and images one user
  message after them (images inside a tool result join that user message:
  agentrt's tool results are text).
- An assistant turn's ``thinking`` blocks travel with the tool call they led to
  (``ToolCall.provider_data``), where the Anthropic client puts them back in
  place; thinking that led to no tool call may be left out, as Anthropic allows.
- ``tool_choice``: ``auto``, ``any`` (OpenAI's ``required``), ``tool`` (a name),
  ``none``; ``disable_parallel_tool_use`` is ``parallel_tool_calls: false``.
- Anthropic-only parameters (``thinking``, ``top_k``, ``metadata``, and fields
  this version does not know) reach Anthropic models only; for another kind
  they are left out and named in a warning. Beta features that need the
  client's ``anthropic-beta`` header (``context_management``, ``container``,
  ``mcp_servers``) are left out for every kind, with the same warning: the
  gateway's provider client speaks the API's stable version. Structured output
  (``output_config.format`` with a JSON schema) is the call's JSON format, so
  it works for every kind.
- ``metadata.user_id`` is passed on to Anthropic, never made the principal: the
  API key says whom a request is for (its limits and budgets), as on
  ``/v1/chat/completions``, so a client cannot step around a per-user limit by
  naming another user.

A tool call's provider data other than thinking (Gemini's thoughtSignature)
rides in its ``id``, as on the OpenAI route (:mod:`agentrt.server.reasoning`),
and is taken out again here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import structlog

from agentrt.server.anthropic_models import (
    CountTokensRequest,
    ImageBlock,
    InputMessage,
    MessagesRequest,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolChoiceNamed,
    ToolDefinition,
    ToolResultBlock,
    ToolUseBlock,
)
from agentrt.server.errors import HttpError
from agentrt.server.reasoning import THINKING_BLOCKS, decode_call_id
from agentrt.types import ContentPart, ImagePart, Message, ResponseFormat, TextPart, ToolCall, ToolSpec

__all__ = ["MessagesCall", "count_call", "messages_call", "request_messages", "tool_specs"]

_log = structlog.get_logger("agentrt.server")

_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
# Never made model parameters: they are the call's own fields, or what it is for.
_OWN_FIELDS = frozenset({"model", "messages", "stream"})
# Beta features of Anthropic's API: they need the client's `anthropic-beta` header, which the gateway does not
# pass to the provider (its client speaks the API's stable version), so the API would refuse them.
_NEEDS_BETA = frozenset({"context_management", "container", "mcp_servers"})


@dataclass(slots=True)
class MessagesCall:
    """What ``rt.calls.generate``/``stream`` is given for one messages request."""

    model: str
    messages: list[Message]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False


def messages_call(request: MessagesRequest, kind: str | None) -> MessagesCall:
    """The call a validated request asks for, for a model of provider kind ``kind``."""
    messages = request_messages(request.system, request.messages)
    options: dict[str, Any] = {"max_output_tokens": request.max_tokens}
    params: dict[str, Any] = {}
    if request.tools:
        options["tools"] = tool_specs(request.tools)
    choice = request.tool_choice
    if choice is not None:
        if choice.type == "none":
            options["tool_choice"] = "none"
        elif isinstance(choice, ToolChoiceNamed):
            name = choice.name
            options["tool_choice"] = (
                {"type": "function", "function": {"name": name}} if name in _TOOL_CHOICE_MODES else name
            )
        else:
            options["tool_choice"] = "required" if choice.type == "any" else "auto"
        if getattr(choice, "disable_parallel_tool_use", None):
            params["parallel_tool_calls"] = False
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.stop_sequences:
        options["stop"] = list(request.stop_sequences)
    own: dict[str, Any] = {}
    if request.top_k is not None:
        own["top_k"] = request.top_k
    if request.thinking is not None:
        own["thinking"] = request.thinking
    if request.metadata is not None and request.metadata.user_id is not None:
        own["metadata"] = {"user_id": request.metadata.user_id}
    beta: list[str] = []
    for key, value in (request.model_extra or {}).items():
        if key in _NEEDS_BETA:
            beta.append(key)
        elif key not in _OWN_FIELDS:
            own[key] = value
    if beta:
        _log.warning(
            "http_params_dropped",
            route="/v1/messages",
            model=request.model,
            params=sorted(beta),
            reason="beta features of Anthropic's API, which the gateway does not ask its provider for",
        )
    if kind == "anthropic":
        params.update(own)
    else:
        _json_format(own, options)
    if own and kind != "anthropic":
        _log.warning(
            "http_params_dropped",
            route="/v1/messages",
            model=request.model,
            params=sorted(own),
            reason="Anthropic's own parameters; the model is served by another kind of provider",
        )
    if params:
        options["params"] = params  # a mapping, never keywords: a field named like an agentrt option stays a parameter
    return MessagesCall(request.model, messages, options, request.stream)


def _json_format(own: dict[str, Any], options: dict[str, Any]) -> None:
    """Anthropic's structured output (``output_config.format``) as the call's JSON format, for any kind;
    the rest of ``output_config`` (``effort``) stays Anthropic's."""
    config = own.get("output_config")
    if not isinstance(config, dict) or not isinstance(config.get("format"), dict):
        return
    format_ = config["format"]
    if format_.get("type") != "json_schema" or not isinstance(format_.get("schema"), dict):
        return
    options["response_format"] = ResponseFormat(schema=format_["schema"])
    rest = {key: value for key, value in config.items() if key != "format"}
    if rest:
        own["output_config"] = rest
    else:
        del own["output_config"]


def tool_specs(tools: list[ToolDefinition]) -> list[ToolSpec]:
    return [ToolSpec(t.name, t.description or "", t.input_schema, t.strict) for t in tools]


def count_call(request: CountTokensRequest) -> tuple[list[Message], list[ToolSpec]]:
    """The messages and tools of a count_tokens request."""
    return request_messages(request.system, request.messages), tool_specs(request.tools or [])


def request_messages(system: str | list[TextBlock] | None, turns: list[InputMessage]) -> list[Message]:
    """agentrt's messages for a request's system prompt and turns; ``HttpError`` 400 for a block out of place."""
    messages: list[Message] = []
    if system:
        text = system if isinstance(system, str) else "\n\n".join(block.text for block in system)
        if text:
            messages.append(Message("system", text))
    tool_names: dict[str, str] = {}  # tool_use id -> name: a tool result needs it (Gemini)
    for index, turn in enumerate(turns):
        if turn.role == "user":
            messages.extend(_user_turn(index, turn.content, tool_names))
        elif turn.role == "system":
            messages.append(Message("system", _system_text(index, turn.content)))
        else:
            message = _assistant_turn(index, turn.content)
            for call in message.tool_calls:
                tool_names[call.id] = call.name
            messages.append(message)
    return messages


def _system_text(index: int, content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for n, block in enumerate(content):
        if not isinstance(block, TextBlock):
            where = f"messages.{index}.content.{n}"
            raise HttpError(400, f"{where}: a system message takes text blocks only", param=f"{where}.type")
        texts.append(block.text)
    return "\n\n".join(texts)


def _user_turn(index: int, content: str | list[Any], tool_names: dict[str, str]) -> list[Message]:
    if isinstance(content, str):
        return [Message("user", content)]
    if not content:  # as Anthropic answers it: only a final assistant turn may be empty
        raise HttpError(
            400,
            f"messages.{index}.content: a user message needs at least one content block",
            param=f"messages.{index}.content",
        )
    out: list[Message] = []
    parts: list[ContentPart] = []
    for n, block in enumerate(content):
        where = f"messages.{index}.content.{n}"
        if isinstance(block, TextBlock):
            parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock):
            parts.append(_image(block, where))
        elif isinstance(block, ToolResultBlock):
            call_id = decode_call_id(block.tool_use_id)[0]
            text, images = _tool_result(block, where)
            out.append(Message("tool", text, tool_call_id=call_id, name=tool_names.get(call_id)))
            parts.extend(images)
        else:
            raise HttpError(
                400,
                f"{where}: a {block.type} block belongs in an assistant message, not a user message",
                param=f"{where}.type",
            )
    if parts:
        out.append(Message("user", parts))
    return out


def _tool_result(block: ToolResultBlock, where: str) -> tuple[str, list[ImagePart]]:
    content = block.content
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts = [part.text for part in content if isinstance(part, TextBlock)]
    images = [_image(part, f"{where}.content.{n}") for n, part in enumerate(content) if isinstance(part, ImageBlock)]
    return "\n".join(texts), images


def _assistant_turn(index: int, content: str | list[Any]) -> Message:
    if isinstance(content, str):
        return Message("assistant", content)
    texts: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[dict[str, Any]] = []  # blocks not yet attached to the call they led to
    for n, block in enumerate(content):
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ThinkingBlock):
            thinking.append({"type": "thinking", "thinking": block.thinking, "signature": block.signature})
        elif isinstance(block, RedactedThinkingBlock):
            thinking.append({"type": "redacted_thinking", "data": block.data})
        elif isinstance(block, ToolUseBlock):
            call_id, data = decode_call_id(block.id)
            provider_data = dict(data or {})
            if thinking:
                provider_data[THINKING_BLOCKS] = thinking
                thinking = []
            calls.append(ToolCall(call_id, block.name, dict(block.input), provider_data or None))
        else:
            where = f"messages.{index}.content.{n}"
            raise HttpError(
                400,
                f"{where}: a {block.type} block belongs in a user message, not an assistant message",
                param=f"{where}.type",
            )
    if thinking and calls:  # thinking after the last call: kept with it, as the Anthropic client does
        last = calls[-1]
        kept = (last.provider_data or {}).get(THINKING_BLOCKS, [])
        last.provider_data = {**(last.provider_data or {}), THINKING_BLOCKS: [*kept, *thinking]}
    return Message("assistant", "".join(texts), tool_calls=calls)


def _image(block: ImageBlock, where: str) -> ImagePart:
    source = block.source
    if source.type == "url":
        return ImagePart(url=source.url)
    try:
        data = base64.b64decode(source.data, validate=True)
    except ValueError:
        raise HttpError(400, f"{where}.source.data: not valid base64", param=f"{where}.source.data") from None
    return ImagePart(data=data, media_type=source.media_type)
