"""A well-behaved MCP server: text, image, structured output, and tools that fail in each way MCP allows.

Tools: ``echo`` (text), ``add`` (structured output), ``pixel`` (an image),
``resource`` (an embedded text resource), ``fail`` (an ``isError`` result the
tool chose), ``explode`` (an exception: the SDK turns it into ``isError``),
``refuse`` (a JSON-RPC error: the call fails at the protocol level) and
``whoami`` (the Authorization header the request carried, over HTTP).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _serve import serve
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.utilities.types import Image
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents
from pydantic import BaseModel

# The smallest valid PNG (1x1, transparent): real image bytes for the image mapping.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)

server = MCPServer("basic", log_level="WARNING")


class Sum(BaseModel):
    total: int
    terms: list[int]


@server.tool()
def echo(text: str) -> str:
    """Repeat the text."""
    return text


@server.tool()
def add(a: int, b: int) -> Sum:
    """Add two integers."""
    return Sum(total=a + b, terms=[a, b])


@server.tool()
def pixel() -> Image:
    """A one-pixel PNG."""
    return Image(data=PIXEL_PNG, format="png")


@server.tool()
def resource() -> EmbeddedResource:
    """A text resource embedded in the result."""
    return EmbeddedResource(
        type="resource", resource=TextResourceContents(uri="memo://today", text="the memo", mime_type="text/plain")
    )


@server.tool()
def fail(reason: str) -> CallToolResult:
    """Report a failure as the tool's own result."""
    return CallToolResult(content=[TextContent(type="text", text=f"failed: {reason}")], is_error=True)


@server.tool()
def explode() -> str:
    """Raise an exception."""
    raise RuntimeError("the tool blew up")


@server.tool()
def refuse() -> str:
    """Answer with a JSON-RPC error."""
    raise MCPError(code=-32602, message="refused: this tool never runs")


@server.tool()
def whoami(ctx: Context) -> str:
    """The Authorization header of the request (HTTP only)."""
    request = ctx.request_context.request
    return "<none>" if request is None else request.headers.get("authorization", "<none>")


if __name__ == "__main__":
    serve(server)
