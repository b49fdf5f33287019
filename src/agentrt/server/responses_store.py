"""What the Responses routes keep of a conversation, and whose it is.

A stored response keeps its conversation as agentrt messages in JSON (images
as base64, tool calls with their provider data), so ``previous_response_id``
continues it exactly as it went, whatever provider answered. Its owner is the
API key's owner (its tenant, else its user, else the key itself): another
owner's response is "not found", never "forbidden", so ids reveal nothing.
"""

from __future__ import annotations

import base64
from typing import Any

from agentrt.server.auth import ApiKey
from agentrt.types import ContentPart, ImagePart, Message, TextPart, ToolCall

__all__ = ["conversation_from_json", "conversation_to_json", "owner_of"]


def owner_of(key: ApiKey) -> str:
    """The owner a key's responses are stored under: ``tenant:<t>``, ``user:<u>`` or ``user:key:<label>``."""
    owner = key.owner
    return f"tenant:{owner.tenant}" if owner.tenant is not None else f"user:{owner.user}"


def conversation_to_json(messages: list[Message]) -> list[dict[str, Any]]:
    return [_message_json(m) for m in messages]


def conversation_from_json(items: list[dict[str, Any]]) -> list[Message]:
    return [_message(item) for item in items]


def _message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    content = message.content
    out["content"] = content if isinstance(content, str) else [_part_json(p) for p in content]
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "name": c.name, "arguments": c.arguments, "provider_data": c.provider_data}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def _part_json(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    image: dict[str, Any] = {"type": "image", "detail": part.detail}
    if part.data is not None:
        image.update(data=base64.b64encode(part.data).decode(), media_type=part.media_type)
    else:
        image["url"] = part.url
    return image


def _message(item: dict[str, Any]) -> Message:
    content = item["content"]
    calls = [ToolCall(c["id"], c["name"], c["arguments"], c.get("provider_data")) for c in item.get("tool_calls") or ()]
    return Message(
        item["role"],
        content if isinstance(content, str) else [_part(p) for p in content],
        tool_calls=calls,
        tool_call_id=item.get("tool_call_id"),
        name=item.get("name"),
    )


def _part(item: dict[str, Any]) -> ContentPart:
    if item["type"] == "text":
        return TextPart(item["text"])
    if "data" in item:
        return ImagePart(data=base64.b64decode(item["data"]), media_type=item["media_type"], detail=item.get("detail"))
    return ImagePart(url=item["url"], detail=item.get("detail"))
