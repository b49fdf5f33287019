"""MCP servers as tool sources, through the official ``mcp`` SDK's client (no protocol code of ours).

::

    tools:
      github:
        mcp: {command: npx, args: ["-y", "@modelcontextprotocol/server-github"],
              env: {GITHUB_TOKEN: "${GITHUB_TOKEN}"}}
      search:
        mcp: {url: "https://mcp.example.com/mcp", headers: {Authorization: "Bearer ${SEARCH_KEY}"}}

The registry calls :func:`open_source` for each such toolkit, then
``await source.start()``: the server is started (stdio) or reached (HTTP),
and its tools listed, within ``start_timeout``. A stdio server that dies, or
an HTTP session that fails, is connected again with exponential backoff;
``status()`` says ``starting``, ``ready``, ``restarting`` or ``failed``, with
the restart count, and calls made meanwhile wait up to their timeout. The
tool list follows the server's ``notifications/tools/list_changed``. A
call's timeout and its cancellation reach the server
(``notifications/cancelled``). Results: text, images
(:class:`~agentrt.types.ImagePart`), embedded text resources, structured
content and ``isError`` map onto :class:`~agentrt.tools.ToolOutput`. A
server that asks the client for sampling, elicitation or roots is told they
are not supported (the SDK's default answers): a tool server's tools run on
their own, the model is agentrt's to call.

Modules: ``_spec`` (what to connect to, plain data), ``_source`` (the
supervised session), ``_transport`` (the SDK's stdio and HTTP transports as
we open them), ``_stderr`` (a stdio server's stderr tail), ``_messages``
(failures in words, without secrets), ``_results``
(listings and results in our types), ``_validation`` (arguments against the
input schema). Importing this package does not import the SDK; opening a
source does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.tools.mcp._spec import HttpServer, McpServerSpec, RestartPolicy, StdioServer

if TYPE_CHECKING:
    from agentrt.config._tools import ToolkitSection
    from agentrt.tools._source import ToolSource
    from agentrt.tools.mcp._source import McpToolSource

__all__ = ["HttpServer", "McpServerSpec", "RestartPolicy", "StdioServer", "open_source", "source_from_spec"]


def open_source(toolkit: str, section: ToolkitSection, base_dir: Path) -> ToolSource:
    """The (not yet started) source of an ``mcp`` toolkit; ``cwd`` is resolved against ``base_dir``."""
    if section.mcp is None:
        raise ValueError(f"toolkit {toolkit!r} has no mcp server: it is a {section.source_kind} toolkit")
    return source_from_spec(toolkit, McpServerSpec.from_section(section.mcp, base_dir))


def source_from_spec(toolkit: str, spec: McpServerSpec) -> McpToolSource:
    """The source for a spec built by hand (tests, embedding code); imports the ``mcp`` SDK."""
    try:
        from agentrt.tools.mcp._source import McpToolSource
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(f"MCP toolkit {toolkit!r} needs the mcp SDK: pip install 'agentrt[mcp]' ({exc})") from exc
    return McpToolSource(toolkit, spec)
