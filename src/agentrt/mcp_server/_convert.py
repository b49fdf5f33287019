"""Our values as MCP's: a tool's output as a ``CallToolResult``, rendered prompt messages as
``PromptMessage`` s, a tool's parameters as an MCP input schema."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import mcp_types as types

from agentrt.types import ImagePart, TextPart

if TYPE_CHECKING:
    from agentrt.tools._source import ToolOutput
    from agentrt.types import Message

__all__ = ["error_result", "input_schema", "prompt_messages", "tool_result"]


def tool_result(output: ToolOutput) -> types.CallToolResult:
    """Text, images and structured content as the tool gave them; ``isError`` when it reported a failure."""
    content: list[types.ContentBlock] = []
    if output.text or not output.images:
        content.append(types.TextContent(text=output.text))
    content.extend(_image(image) for image in output.images)
    structured = dict(output.structured) if output.structured is not None else None
    return types.CallToolResult(content=content, structured_content=structured, is_error=output.is_error)


def error_result(message: str) -> types.CallToolResult:
    """A failure the model should see and may act on (a refusal, bad arguments, a timeout)."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _image(image: ImagePart) -> types.ContentBlock:
    if image.data is not None:
        assert image.media_type is not None  # an ImagePart with data always has one
        return types.ImageContent(data=base64.b64encode(image.data).decode("ascii"), mime_type=image.media_type)
    # An image by URL: MCP's ImageContent carries bytes only, so the client gets a link to it.
    assert image.url is not None
    return types.ResourceLink(uri=image.url, name="image", mime_type=image.media_type)


def input_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A tool's JSON Schema as MCP wants it: an object at the root, always."""
    schema = dict(parameters)
    if schema.get("type") != "object":
        # MCP requires `type: object` at the root; a source that gave none (or a bare {}) takes any object.
        schema = {"type": "object", **({"properties": schema["properties"]} if "properties" in schema else {})}
    return schema


def prompt_messages(messages: Sequence[Message]) -> list[types.PromptMessage]:
    """Rendered messages as MCP prompt messages.

    MCP prompts know two roles, ``user`` and ``assistant``; a ``system``
    message becomes a ``user`` message (MCP has no other place for it, and
    clients hand a prompt's messages to their model as the conversation's start).
    """
    out: list[types.PromptMessage] = []
    for message in messages:
        role: types.Role = "assistant" if message.role == "assistant" else "user"
        parts = [TextPart(message.content)] if isinstance(message.content, str) else message.content
        for part in parts:
            block = types.TextContent(text=part.text) if isinstance(part, TextPart) else _image(part)
            out.append(types.PromptMessage(role=role, content=block))
    return out
