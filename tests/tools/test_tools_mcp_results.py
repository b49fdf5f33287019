"""MCP results and listings in our types, block by block (the SDK's own result models, no server needed)."""

from __future__ import annotations

import base64

import mcp_types as types
import pytest
from mcp_support import PIXEL_PNG

from agentrt.errors import ToolArgumentsError
from agentrt.tools.mcp._results import tool_infos, tool_output
from agentrt.tools.mcp._spec import HttpServer, StdioServer
from agentrt.tools.mcp._validation import ArgumentChecker
from agentrt.types import ImagePart

PIXEL_B64 = base64.b64encode(PIXEL_PNG).decode()


def _result(*content: types.ContentBlock, **fields: object) -> types.CallToolResult:
    return types.CallToolResult(content=list(content), **fields)  # type: ignore[arg-type]


def test_text_blocks_are_joined_by_lines_and_images_kept_apart() -> None:
    out = tool_output(
        _result(
            types.TextContent(type="text", text="first"),
            types.ImageContent(type="image", data=PIXEL_B64, mime_type="image/png"),
            types.TextContent(type="text", text="second"),
        )
    )
    assert out.text == "first\nsecond"
    assert out.images == (ImagePart(data=PIXEL_PNG, media_type="image/png"),)
    assert out.structured is None
    assert out.is_error is False


def test_embedded_resources_text_becomes_text_an_image_blob_an_image_other_blobs_a_note() -> None:
    out = tool_output(
        _result(
            types.EmbeddedResource(
                type="resource", resource=types.TextResourceContents(uri="memo://a", text="memo text")
            ),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(uri="img://b", blob=PIXEL_B64, mime_type="image/png"),
            ),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(uri="file://c.zip", blob="AAAA", mime_type="application/zip"),
            ),
        )
    )
    assert out.text == "memo text\n[resource file://c.zip (application/zip), binary, not shown]"
    assert out.images == (ImagePart(data=PIXEL_PNG, media_type="image/png"),)


def test_audio_and_resource_links_are_described_so_the_model_knows_they_were_there() -> None:
    out = tool_output(
        _result(
            types.AudioContent(type="audio", data="AAAA", mime_type="audio/wav"),
            types.ResourceLink(type="resource_link", name="report", uri="file:///tmp/report.pdf"),
        )
    )
    assert out.text == "[audio (audio/wav), not shown]\n[resource report: file:///tmp/report.pdf]"


def test_an_image_that_is_not_base64_is_reported_not_raised() -> None:
    out = tool_output(_result(types.ImageContent(type="image", data="%%%not base64%%%", mime_type="image/png")))
    assert out.images == ()
    assert out.text == "[an image (image/png) that was not valid base64]"


def test_structured_content_alone_is_also_the_text_and_is_error_is_kept() -> None:
    out = tool_output(_result(structured_content={"total": 3}, is_error=True))
    assert out.structured == {"total": 3}
    assert out.text == '{"total": 3}'
    assert out.is_error is True


def test_listings_become_tool_infos_with_the_title_when_there_is_no_description() -> None:
    listed = [
        types.Tool(name="search", description="Search the web.", input_schema={"type": "object"}),
        types.Tool(name="fetch", title="Fetch a page", input_schema={"type": "object", "properties": {}}),
    ]
    search, fetch = tool_infos("web", listed)
    assert (search.full_name, search.description, search.source) == ("web.search", "Search the web.", "mcp")
    assert (fetch.full_name, fetch.description) == ("web.fetch", "Fetch a page")
    assert fetch.parameters == {"type": "object", "properties": {}}


def test_argument_problems_name_the_arguments_not_the_values() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
        "additionalProperties": False,
    }
    checker = ArgumentChecker()
    checker.check("w.forecast", "forecast", schema, {"city": "Paris", "days": 2})
    with pytest.raises(ToolArgumentsError) as caught:
        checker.check("w.forecast", "forecast", schema, {"days": 0, "password": "hunter2-value"})
    problems = caught.value.problems
    assert "days: fails minimum 1" in problems
    assert any(p.startswith("arguments: a required argument is missing ('city')") for p in problems)
    assert any("unexpected argument" in p for p in problems)
    assert "hunter2-value" not in str(caught.value)


def test_a_schema_that_is_itself_invalid_is_left_to_the_server() -> None:
    ArgumentChecker().check("w.odd", "odd", {"type": "no-such-type"}, {"anything": 1})


def test_secrets_of_a_server_spec_are_not_shown() -> None:
    stdio = StdioServer(command="npx", env={"GITHUB_TOKEN": "ghp_secret"})
    http = HttpServer(url="https://user:pw@mcp.example.com:8443/mcp?key=k1", headers={"Authorization": "Bearer t0k"})
    assert "ghp_secret" not in repr(stdio)
    assert "t0k" not in repr(http)
    assert http.display_url == "https://mcp.example.com:8443/mcp"
