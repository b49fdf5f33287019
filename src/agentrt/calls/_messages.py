"""Turning what callers pass as a prompt into the messages a provider gets.

Besides agentrt's own :class:`Message` and content parts, a prompt may be a
list of OpenAI chat messages as the openai SDK takes them (``{"role": "user",
"content": "hi"}``, text and ``image_url`` parts, assistant ``tool_calls``,
``tool`` results, ``system`` and ``developer``), so code written for that SDK
works unchanged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import orjson

from agentrt.types import ContentPart, ImagePart, Message, TextPart, ToolCall

__all__ = ["Prompt", "to_messages"]

Prompt: TypeAlias = (
    str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any]] | Sequence[ContentPart]
)

_PROMPT_KINDS = (
    "a prompt is a string, a Message, a list of Messages or of OpenAI-style message dicts "
    "({'role': 'user', 'content': 'hi'}), or a list of TextPart/ImagePart"
)


def to_messages(prompt: Prompt, system: str | None = None) -> list[Message]:
    """A fresh list (the pipeline appends tool turns to it) of the prompt's messages.

    A string, or a list of content parts (text and images), is one user message;
    ``system`` goes first.
    """
    if isinstance(prompt, str):
        messages = [Message("user", prompt)]
    elif isinstance(prompt, Message):
        messages = [prompt]
    elif isinstance(prompt, Mapping):
        messages = [_from_openai(prompt, "prompt", {})]
    else:
        items = list(prompt)
        if all(isinstance(item, Message) for item in items):
            messages = items  # type: ignore[assignment]  # checked just above
        elif all(isinstance(item, TextPart | ImagePart) for item in items):
            messages = [Message("user", items)]  # type: ignore[arg-type]  # checked just above
        else:
            messages = _from_mixed(items)
    if system is not None:
        messages.insert(0, Message("system", system))
    if not messages:
        raise ValueError("the prompt is empty: pass a string, a Message or a list of messages")
    return messages


def _from_mixed(items: list[Any]) -> list[Message]:
    messages: list[Message] = []
    tool_names: dict[str, str] = {}  # tool call id -> name: a tool result needs it (Gemini)
    for index, item in enumerate(items):
        if isinstance(item, Message):
            message = item
        elif isinstance(item, Mapping):
            message = _from_openai(item, f"prompt[{index}]", tool_names)
        else:
            raise TypeError(f"prompt[{index}] is a {type(item).__name__}: {_PROMPT_KINDS}")
        for call in message.tool_calls:
            tool_names[call.id] = call.name
        messages.append(message)
    return messages


def _from_openai(item: Mapping[str, Any], where: str, tool_names: dict[str, str]) -> Message:
    role = item.get("role")
    if role in ("system", "developer"):
        return Message("system", _text_only(item.get("content"), where))
    if role == "user":
        return Message("user", _user_content(item.get("content"), where))
    if role == "assistant":
        content = item.get("content")
        text = "" if content is None else _text_only(content, where)
        calls = [_tool_call(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(item.get("tool_calls") or ())]
        return Message.assistant(text, calls)
    if role == "tool":
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(
                f"{where} is a tool result without 'tool_call_id': write "
                "{'role': 'tool', 'tool_call_id': <the id of the assistant's tool call>, 'content': '...'}"
            )
        name = item.get("name")
        return Message.tool(
            call_id,
            _text_only(item.get("content"), where),
            name=name if isinstance(name, str) else tool_names.get(call_id),
        )
    if role == "function":
        raise ValueError(
            f"{where} has role 'function', OpenAI's retired form of a tool result: write "
            "{'role': 'tool', 'tool_call_id': ..., 'content': ...} instead"
        )
    raise ValueError(
        f"{where} has role {role!r}: use 'system', 'developer', 'user', 'assistant' or 'tool', "
        "e.g. {'role': 'user', 'content': 'hi'}"
    )


def _text_only(content: object, where: str) -> str:
    """The text of a system, assistant or tool message: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, Mapping) and part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                texts.append(part["refusal"])  # an assistant's earlier refusal, sent back as what it said
            else:
                raise ValueError(
                    f"{where}.content[{index}] is not a text part: this role takes only text, "
                    "as a string or as [{'type': 'text', 'text': '...'}]"
                )
        return "".join(texts)
    raise TypeError(
        f"{where}.content is a {type(content).__name__}: write a string, or a list of "
        "{'type': 'text', 'text': '...'} parts"
    )


def _user_content(content: object, where: str) -> str | list[ContentPart]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TypeError(
            f"{where}.content is a {type(content).__name__}: write a string, or a list of parts "
            "({'type': 'text', 'text': ...} or {'type': 'image_url', 'image_url': {'url': ...}})"
        )
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        place = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(part["text"]))
        elif kind == "image_url":
            parts.append(_image(part.get("image_url"), place))
        else:
            raise ValueError(
                f"{place} is not a part agentrt knows: write {{'type': 'text', 'text': '...'}} or "
                "{'type': 'image_url', 'image_url': {'url': 'https://... or data:image/png;base64,...'}}"
            )
    return parts


def _image(value: object, where: str) -> ImagePart:
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str) or not url:
        raise ValueError(f"{where} has no image URL: write {{'type': 'image_url', 'image_url': {{'url': '...'}}}}")
    detail = value.get("detail") if isinstance(value, Mapping) else None
    if detail is not None and detail not in ("low", "high", "auto"):
        raise ValueError(f"{where} has image_url.detail {detail!r}: use 'low', 'high' or 'auto'")
    if not url.startswith("data:"):
        return ImagePart(url=url, detail=detail)
    header, _, payload = url.partition(",")
    media_type, _, encoding = header[5:].partition(";")
    if encoding != "base64" or not media_type:
        raise ValueError(f"{where} has a data URL agentrt cannot read: use data:<media type>;base64,<data>")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"{where} has a data URL whose base64 data is invalid ({err})") from None
    return ImagePart(data=data, media_type=media_type, detail=detail)


def _tool_call(value: object, where: str) -> ToolCall:
    function = value.get("function") if isinstance(value, Mapping) else None
    call_id = value.get("id") if isinstance(value, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str) or not isinstance(call_id, str):
        raise ValueError(
            f"{where} is not a tool call: write {{'id': 'call_1', 'type': 'function', "
            "'function': {'name': 'lookup', 'arguments': '{\"q\": \"...\"}'}}"
        )
    arguments = function.get("arguments")
    if isinstance(arguments, Mapping):
        parsed: object = dict(arguments)
    else:
        try:
            parsed = orjson.loads(arguments or "{}") if isinstance(arguments, str | bytes) else None
        except orjson.JSONDecodeError as err:
            raise ValueError(
                f"{where}.function.arguments is not valid JSON ({err}): write a JSON object string"
            ) from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{where}.function.arguments must be a JSON object string, such as '{{\"q\": \"hi\"}}'")
    return ToolCall(call_id, function["name"], parsed)
