"""Responses API requests to agentrt's call types, and agentrt's results to response objects and events.

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
import os
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from agentrt.server.errors import ErrorInfo, HttpError
from agentrt.server.reasoning import decode_call_id, encode_call_id
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
from agentrt.server.sse import format_event
from agentrt.types import Completion, ContentPart, ImagePart, Message, ResponseFormat, ToolCall, ToolCallDelta, ToolSpec
from agentrt.types import TextPart as AgentTextPart

__all__ = [
    "ResponseEventWriter",
    "ResponsesCall",
    "input_messages",
    "new_id",
    "output_items",
    "response_object",
    "responses_call",
]

_EMPTY_OBJECT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
# Fields of the request that are not model parameters: the call's own, or kept with the response.
_NOT_PARAMS = frozenset(
    {"model", "input", "stream", "store", "metadata", "user", "include", "truncation", "background"}
)

_ID_PREFIX = os.urandom(6).hex()
_id_counter = 0


def new_id(kind: str) -> str:
    """A fresh id such as ``resp_1a2b3c4d5e6f1f`` (``kind``: resp, msg, fc), unique across processes."""
    global _id_counter
    _id_counter += 1
    return f"{kind}_{_ID_PREFIX}{_id_counter:x}"


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
    if request.parallel_tool_calls is not None:
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


# --- answers ------------------------------------------------------------------------------------


def call_id_of(call: ToolCall) -> str:
    data = {k: v for k, v in (call.provider_data or {}).items() if k != "truncated_arguments"}
    return encode_call_id(call.id, data or None)


def _message_item(item_id: str, text: str, refusal: str | None, status: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text or not refusal:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": content}


def _call_item(item_id: str, call: ToolCall, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id_of(call),
        "name": call.name,
        "arguments": orjson.dumps(call.arguments).decode(),
        "status": status,
    }


def output_items(
    completion: Completion, message_id: str | None = None, call_ids: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """The output items of a completion: its message (text or refusal), then its function calls."""
    items: list[dict[str, Any]] = []
    if completion.text or completion.refusal or not completion.tool_calls:
        items.append(_message_item(message_id or new_id("msg"), completion.text, completion.refusal, "completed"))
    for index, call in enumerate(completion.tool_calls):
        items.append(_call_item((call_ids or {}).get(index) or new_id("fc"), call, "completed"))
    return items


def _status(completion: Completion) -> tuple[str, dict[str, str] | None]:
    reason = completion.finish_reason
    if reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def usage_body(completion: Completion) -> dict[str, Any]:
    usage = completion.usage
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def response_object(
    response_id: str,
    model: str,
    echo: dict[str, Any],
    *,
    created_at: int,
    completion: Completion | None = None,
    output: list[dict[str, Any]] | None = None,
    error: ErrorInfo | None = None,
) -> dict[str, Any]:
    """The response object: in progress (no completion yet), finished, or failed (``error``)."""
    status, incomplete = ("in_progress", None) if completion is None else _status(completion)
    if error is not None:
        status = "failed"
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": {"code": error.code or error.type, "message": error.message} if error is not None else None,
        "incomplete_details": incomplete,
        "model": completion.model if completion is not None else model,
        "output": output if output is not None else [],
        "usage": usage_body(completion) if completion is not None else None,
        **echo,
    }


def message_of(completion: Completion) -> Message:
    """The assistant message a completion adds to the conversation."""
    return Message("assistant", completion.text, tool_calls=list(completion.tool_calls))


class ResponseEventWriter:
    """Builds the server-sent events of one streamed response, as bytes, with their sequence numbers.

    Text streams as it comes; a function call streams as it comes unless ``hold_tool_calls``
    (then it is sent whole at the end, with the ``call_id`` that carries its provider data).
    """

    __slots__ = (
        "_args",
        "_call_ids",
        "_held",
        "_hold",
        "_index",
        "_item_of",
        "_message_id",
        "_open",
        "_seq",
        "_text",
        "created_at",
        "echo",
        "model",
        "response_id",
    )

    def __init__(self, response_id: str, model: str, echo: dict[str, Any], *, hold_tool_calls: bool) -> None:
        self.response_id = response_id
        self.model = model
        self.echo = echo
        self.created_at = int(time.time())
        self._hold = hold_tool_calls
        self._seq = 0
        self._index = 0  # the next output index
        self._open: int | None = None  # the call index whose item is open (-1: the message)
        self._message_id: str | None = None
        self._text: list[str] = []
        self._item_of: dict[int, int] = {}  # call index (-1: the message) -> output index
        self._call_ids: dict[int, str] = {}  # call index -> the item id
        self._args: dict[int, list[str]] = {}  # call index -> argument pieces sent
        self._held: set[int] = set()

    def _event(self, kind: str, **data: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return format_event(orjson.dumps(body), event=kind)

    def start(self) -> bytes:
        response = response_object(self.response_id, self.model, self.echo, created_at=self.created_at)
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def text(self, text: str) -> bytes:
        if not text:
            return b""
        out = b""
        if self._message_id is None:
            out += self._close()
            self._message_id = new_id("msg")
            self._item_of[-1] = self._index
            self._index += 1
            item = _message_item(self._message_id, "", None, "in_progress")
            item["content"] = []
            out += self._event("response.output_item.added", output_index=self._item_of[-1], item=item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event(
                "response.content_part.added",
                item_id=self._message_id,
                output_index=self._item_of[-1],
                content_index=0,
                part=part,
            )
            self._open = -1
        elif self._open != -1:
            return b""  # text after a call: the final message item has it whole
        self._text.append(text)
        return out + self._event(
            "response.output_text.delta",
            item_id=self._message_id,
            output_index=self._item_of[-1],
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        index = delta.index
        if index in self._held:
            return b""
        out = b""
        if index not in self._item_of:
            if self._hold or delta.id is None or delta.name is None:
                self._held.add(index)
                return b""
            out += self._close()
            self._item_of[index] = self._index
            self._index += 1
            self._call_ids[index] = new_id("fc")
            self._args[index] = []
            item = {
                "id": self._call_ids[index],
                "type": "function_call",
                "call_id": delta.id,
                "name": delta.name,
                "arguments": "",
                "status": "in_progress",
            }
            out += self._event("response.output_item.added", output_index=self._item_of[index], item=item)
            self._open = index
        elif self._open != index:
            return b""
        if delta.arguments:
            self._args[index].append(delta.arguments)
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=self._call_ids[index],
                output_index=self._item_of[index],
                delta=delta.arguments,
            )
        return out

    def _close(self) -> bytes:
        """The text or arguments of the open item are complete (its done events come in finish)."""
        self._open = None
        return b""

    def _item_done(self, output_index: int, item: dict[str, Any]) -> bytes:
        out = b""
        if item["type"] == "message":
            for n, part in enumerate(item["content"]):
                if part["type"] == "output_text":
                    out += self._event(
                        "response.output_text.done",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        text=part["text"],
                        logprobs=[],
                    )
                else:
                    out += self._event(
                        "response.refusal.done",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        refusal=part["refusal"],
                    )
                out += self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=output_index,
                    content_index=n,
                    part=part,
                )
        else:
            out += self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=output_index,
                name=item["name"],
                arguments=item["arguments"],
            )
        return out + self._event("response.output_item.done", output_index=output_index, item=item)

    def _whole_item(self, item: dict[str, Any]) -> bytes:
        """An item not streamed: added, its content in one piece, done."""
        output_index = self._index
        self._index += 1
        started = {**item, "status": "in_progress"}
        if item["type"] == "message":
            started["content"] = []
        else:
            started["arguments"] = ""
        out = self._event("response.output_item.added", output_index=output_index, item=started)
        if item["type"] == "message":
            for n, part in enumerate(item["content"]):
                empty = {**part, "text": ""} if part["type"] == "output_text" else {**part, "refusal": ""}
                out += self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=output_index,
                    content_index=n,
                    part=empty,
                )
                if part["type"] == "output_text" and part["text"]:
                    out += self._event(
                        "response.output_text.delta",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        delta=part["text"],
                        logprobs=[],
                    )
                elif part["type"] == "refusal":
                    out += self._event(
                        "response.refusal.delta",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        delta=part["refusal"],
                    )
        elif item["arguments"]:
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=output_index,
                delta=item["arguments"],
            )
        return out + self._item_done(output_index, item)

    def output(self, completion: Completion) -> list[dict[str, Any]]:
        """The final output items, with the ids streamed, in the order streamed (held calls last)."""
        streamed_text = "".join(self._text)
        items: list[tuple[int, dict[str, Any]]] = []
        if self._message_id is not None:
            items.append((self._item_of[-1], _message_item(self._message_id, streamed_text, None, "completed")))
        later: list[dict[str, Any]] = []
        if self._message_id is None and (completion.text or completion.refusal or not completion.tool_calls):
            later.append(_message_item(new_id("msg"), completion.text, completion.refusal, "completed"))
        elif completion.refusal:
            later.append(_message_item(new_id("msg"), "", completion.refusal, "completed"))
        for index, call in enumerate(completion.tool_calls):
            if index in self._item_of:
                item = _call_item(self._call_ids[index], call, "completed")
                items.append((self._item_of[index], item))
            else:
                later.append(_call_item(new_id("fc"), call, "completed"))
        items.sort(key=lambda pair: pair[0])
        return [item for _, item in items] + later

    def finish(self, completion: Completion, output: list[dict[str, Any]], response: dict[str, Any]) -> bytes:
        """The closing events: each streamed item done, the held ones whole, then ``response.completed``
        (``response.incomplete`` when the answer was cut)."""
        out = self._close()
        streamed = len(self._item_of)
        for output_index, item in enumerate(output[:streamed]):
            out += self._item_done(output_index, item)
        for item in output[streamed:]:
            out += self._whole_item(item)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return out + self._event(kind, response=response)

    def failed(self, info: ErrorInfo) -> bytes:
        """After an error: OpenAI's ``error`` event, then ``response.failed``."""
        response = response_object(self.response_id, self.model, self.echo, created_at=self.created_at, error=info)
        error = self._event("error", code=info.code or info.type, message=info.message, param=info.param)
        return error + self._event("response.failed", response=response)
