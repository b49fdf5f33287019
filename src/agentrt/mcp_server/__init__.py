"""Serving MCP: the runtime's tools, agents and prompts to any MCP client (Claude Desktop, Cursor, ...).

``agentrt serve`` publishes them at ``/mcp`` (streamable HTTP, stateless; see
:mod:`agentrt.mcp_server.http`), and ``agentrt mcp serve --stdio`` over
stdio (:mod:`agentrt.mcp_server.stdio`). The protocol is the official ``mcp``
SDK's; this package only says what is served and as whom:

- tools: every configured tool, named ``toolkit.tool``, called through the
  governed path (``rt.tools.call``): policy rules, limits, budgets,
  approvals, audit rows, metrics and spans as for a model's tool call;
- ``agents.<type>``: each agent type as a tool that asks it (see
  :mod:`agentrt.mcp_server._agents` for one-off and named instances);
- prompts: every configured prompt, its declared inputs as arguments.

Who: every request runs as a :class:`Caller`, its principal the API key's
(tenant, user, tags) over HTTP. A key sees the tools with the ``tools``
scope, the agent tools with ``agents:write``, the prompts with ``chat``; what
a key may not see is answered as if it did not exist.

Importing this package imports the ``mcp`` SDK (the ``mcp`` extra): import it
lazily, as the server and the CLI do.
"""

from agentrt.mcp_server._caller import AGENTS_SCOPE, PROMPTS_SCOPE, TOOLS_SCOPE, Caller
from agentrt.mcp_server._server import build_server
from agentrt.mcp_server.http import CALLER_SCOPE_KEY, McpHttpEndpoint
from agentrt.mcp_server.stdio import serve_stdio

__all__ = [
    "AGENTS_SCOPE",
    "CALLER_SCOPE_KEY",
    "PROMPTS_SCOPE",
    "TOOLS_SCOPE",
    "Caller",
    "McpHttpEndpoint",
    "build_server",
    "serve_stdio",
]
