"""MCP's tool listings and results in our terms: :class:`ToolInfo` and :class:`ToolOutput`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

import mcp_types as types

from agentrt.tools._source import ToolInfo, ToolOutput
from agentrt.types import ImagePart

__all__ = ["tool_infos", "tool_output"]


def tool_infos(toolkit: str, tools: Sequence[types.Tool]) -> tuple[ToolInfo, ...]:
    """The server's tools as the registry lists them (the description falls back to the title)."""
    return tuple(
        ToolInfo(
            toolkit=toolkit,
            name=tool.name,
            description=tool.description or tool.title or "",
            parameters=dict(tool.input_schema),
            source="mcp",
        )
        for tool in tools
    )


def tool_output(result: types.CallToolResult) -> ToolOutput:
    """Text blocks (and text resources) become the text, images become :class:`ImagePart` s.

    Content with no type of ours (audio, binary resources, resource links) is
    described in a line of text, so the model knows it was there. A result
    with only structured content gets that content as JSON text: the model
    reads text.
    """
    texts: list[str] = []
    images: list[ImagePart] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            texts.append(block.text)
        elif isinstance(block, types.ImageContent):
            image = _image(block.data, block.mime_type)
            if image is None:
                texts.append(f"[an image ({block.mime_type}) that was not valid base64]")
            else:
                images.append(image)
        elif isinstance(block, types.EmbeddedResource):
            _embedded(block.resource, texts, images)
        elif isinstance(block, types.AudioContent):
            texts.append(f"[audio ({block.mime_type}), not shown]")
        elif isinstance(block, types.ResourceLink):
            texts.append(f"[resource {block.name}: {block.uri}]")
    structured = result.structured_content
    if not texts and structured is not None:
        texts.append(json.dumps(structured, ensure_ascii=False))
    return ToolOutput(
        text="\n".join(texts),
        images=tuple(images),
        structured=structured,
        is_error=bool(result.is_error),
    )


def _embedded(
    resource: types.TextResourceContents | types.BlobResourceContents, texts: list[str], images: list[ImagePart]
) -> None:
    if isinstance(resource, types.TextResourceContents):
        texts.append(resource.text)
        return
    mime = resource.mime_type or "application/octet-stream"
    image = _image(resource.blob, mime) if mime.startswith("image/") else None
    if image is not None:
        images.append(image)
    else:
        texts.append(f"[resource {resource.uri} ({mime}), binary, not shown]")


def _image(data: str, mime_type: str) -> ImagePart | None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return ImagePart(data=raw, media_type=mime_type)
