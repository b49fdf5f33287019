"""Responses API requests to agentrt's call types (the answers: :mod:`agentrt.server.responses_output`,
the stream's events: :mod:`agentrt.server.responses_events`).

- ``input`` is a string (one user message) or items: messages (``role`` user,
  system, developer or assistant; text and image parts), ``function_call``
  items (the model's earlier calls: consecutive ones, and an assistant message
  just before them, form one assistant turn) and ``function_call_output``
  items (tool messages). ``reasoning`` items sent back are left out.
- ``instructions`` is the system message of this request only: a continued
  response (``previous_response_id``) does not carry the earlier instructions,
  as OpenAI documents.
- ``tools`` are function tools; ``strict`` is passed on when given (it is not
  assumed), ``text.format`` is the JSON output format, ``reasoning.effort`` is
  ``reasoning_effort``; fields not listed pass to the model as parameters.

A function call's provider data (Anthropic's thinking, Gemini's
thoughtSignature) rides in its ``call_id`` (:mod:`agentrt.server.reasoning`):
every client sends it back, on the ``function_call`` item and on its output.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from agentrt.server.errors import HttpError
from agentrt.server.reasoning import decode_call_id
from agentrt.server.responses_models import (
    FunctionCallItem,
    FunctionCallOutputItem,
    InputImage,
    InputText,
    MessageItem,
    NamedFunction,
    OutputText,
    Refusal,
    ResponsesRequest,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)
from agentrt.types import ContentPart, ImagePart, Message, ResponseFormat, ToolCall, ToolSpec
from agentrt.types import TextPart as AgentTextPart

__all__ = ["ResponsesCall", "input_messages", "responses_call"]

_EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
# Fields of the request that are not model parameters: the call's own, or kept with the response.
_NOT_PARAMS = frozenset(
    {"model", "input", "stream", "store", "metadata", "user", "include", "truncation", "background"}
)


@dataclass(slots=True)
class ResponsesCall:
    """What ``rt.calls.generate``/``stream`` is given, and what the response echoes."""

    model: str
    input: list[Message]
    """This request's input, as messages: what a stored conversation is extended by."""
    instructions: str | None
    options: dict[str, Any] = field(default_factory=dict)
    echo: dict[str, Any] = field(default_factory=dict)
    """The request's settings as the response object repeats them (tools, tool_choice, text...)."""

    def messages(self, previous: list[Message]) -> list[Message]:
        """The messages sent to the model: the instructions, a continued conversation, this input."""
        head = [Message("system", self.instructions)] if self.instructions else []
        return [*head, *previous, *self.input]


def responses_call(request: ResponsesRequest) -> ResponsesCall:
    """The call a validated request asks for; ``HttpError`` 400 for what agentrt cannot serve."""
    if request.background:
        raise HttpError(
            400,
            "background: responses are answered in the request here; leave background out (or false)",
            param="background",
        )
    options: dict[str, Any] = {}
    params: dict[str, Any] = {k: v for k, v in (request.model_extra or {}).items() if k not in _NOT_PARAMS}
    tools: list[dict[str, Any]] = []
    if request.tools:
        options["tools"] = [
            ToolSpec(t.name, t.description or "", t.parameters or dict(_EMPTY_OBJECT_SCHEMA), t.strict)
            for t in request.tools
        ]
        tools = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": t.strict,
            }
            for t in request.tools
        ]
    choice: str | dict[str, Any] = "auto"
    if request.tool_choice is not None:
        if isinstance(request.tool_choice, NamedFunction):
            name = request.tool_choice.name
            options["tool_choice"] = (
                {"type": "function", "function": {"name": name}} if name in _TOOL_CHOICE_MODES else name
            )
            choice = {"type": "function", "name": name}
        else:
            options["tool_choice"] = choice = request.tool_choice
    text: dict[str, Any] = {"format": {"type": "text"}}
    format_ = request.text.format if request.text is not None else None
    if isinstance(format_, TextFormatJsonSchema):
        options["response_format"] = ResponseFormat(
            schema=format_.schema_, name=format_.name, strict=bool(format_.strict)
        )
        text = {"format": format_.model_dump(by_alias=True, exclude_none=True)}
    elif isinstance(format_, TextFormatJsonObject):
        options["response_format"] = ResponseFormat()
        text = {"format": {"type": "json_object"}}
    if request.max_output_tokens is not None:
        options["max_output_tokens"] = request.max_output_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.parallel_tool_calls is not None and request.tools:  # without tools OpenAI refuses it, and it is moot
        params["parallel_tool_calls"] = request.parallel_tool_calls
    if request.reasoning is not None and request.reasoning.effort is not None:
        params["reasoning_effort"] = request.reasoning.effort
    if params:
        options["params"] = params  # a mapping, never keywords: a field named like an agentrt option stays a parameter
    echo = {
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": request.previous_response_id,
        "store": request.store,
        "temperature": request.temperature,
        "text": text,
        "tool_choice": choice,
        "tools": tools,
        "top_p": request.top_p,
        "truncation": request.truncation or "disabled",
        "user": None,
        "metadata": request.metadata or {},
    }
    return ResponsesCall(request.model, input_messages(request.input), request.instructions, options, echo)


def input_messages(items: str | list[Any]) -> list[Message]:
    """agentrt's messages for a request's ``input``; ``HttpError`` 400 for what cannot be served."""
    if isinstance(items, str):
        return [Message("user", items)]
    messages: list[Message] = []
    tool_names: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"input.{index}"
        if isinstance(item, MessageItem):
            messages.append(_message(item, where))
        elif isinstance(item, FunctionCallItem):
            call = _function_call(item, where)
            tool_names[call.id] = call.name
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                last.tool_calls.append(call)  # one assistant turn: its text and every call it made
            else:
                messages.append(Message("assistant", "", tool_calls=[call]))
        elif isinstance(item, FunctionCallOutputItem):
            call_id = decode_call_id(item.call_id)[0]
            text, images = _output(item, where)
            messages.append(Message("tool", text, tool_call_id=call_id, name=tool_names.get(call_id)))
            if images:  # agentrt's tool results are text: the images follow as the user's
                messages.append(Message("user", list(images)))
        # a reasoning item: agentrt made none, and none is needed to continue
    if not messages:
        raise HttpError(400, "input: no message to answer: send a string or at least one message item", param="input")
    return messages


def _message(item: MessageItem, where: str) -> Message:
    content = item.content
    if item.role == "user":
        if isinstance(content, str):
            return Message("user", content)
        return Message("user", [_user_part(part, f"{where}.content.{n}") for n, part in enumerate(content)])
    text = (
        content
        if isinstance(content, str)
        else "".join(_text_of(part, f"{where}.content.{n}", item.role) for n, part in enumerate(content))
    )
    return Message("assistant" if item.role == "assistant" else "system", text)


def _text_of(part: Any, where: str, role: str) -> str:
    if isinstance(part, InputText | OutputText):
        return part.text
    if isinstance(part, Refusal):
        return part.refusal
    raise HttpError(400, f"{where}: a {role} message takes text only (images go in user messages)", param=where)


def _user_part(part: Any, where: str) -> ContentPart:
    if isinstance(part, InputText | OutputText):
        return AgentTextPart(part.text)
    if isinstance(part, InputImage):
        return _image(part, where)
    raise HttpError(400, f"{where}: a user message takes input_text and input_image parts", param=where)


def _image(part: InputImage, where: str) -> ImagePart:
    url = part.image_url
    if not url:
        raise HttpError(
            400,
            f"{where}: files are not served here: send the image as image_url (an https or data: URL)",
            param=f"{where}.image_url",
        )
    if not url.startswith("data:"):
        return ImagePart(url=url, detail=part.detail)
    header, sep, payload = url.partition(",")
    media_type = header.removeprefix("data:").removesuffix(";base64")
    try:
        if not sep or not header.endswith(";base64") or not media_type:
            raise ValueError
        data = base64.b64decode(payload, validate=True)
    except ValueError:
        raise HttpError(
            400, f"{where}.image_url: a data: URL must be data:<media type>;base64,<data>", param=f"{where}.image_url"
        ) from None
    return ImagePart(data=data, media_type=media_type, detail=part.detail)


def _function_call(item: FunctionCallItem, where: str) -> ToolCall:
    call_id, provider_data = decode_call_id(item.call_id)
    try:
        arguments = orjson.loads(item.arguments) if item.arguments.strip() else {}
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise HttpError(
            400,
            f"{where}.arguments: not a JSON object (the arguments are a JSON object, as text)",
            param=f"{where}.arguments",
        )
    return ToolCall(call_id, item.name, arguments, provider_data)


def _output(item: FunctionCallOutputItem, where: str) -> tuple[str, list[ImagePart]]:
    if isinstance(item.output, str):
        return item.output, []
    texts: list[str] = []
    images: list[ImagePart] = []
    for n, part in enumerate(item.output):
        if isinstance(part, InputImage):
            images.append(_image(part, f"{where}.output.{n}"))
        else:
            texts.append(_text_of(part, f"{where}.output.{n}", "function_call_output"))
    return "\n".join(texts), images
