"""The MCP server of a running runtime: its tools, its agents as tools, its prompts.

Built on the ``mcp`` SDK's low-level :class:`mcp.server.Server`: we give it
four handlers (``tools/list``, ``tools/call``, ``prompts/list``,
``prompts/get``); the SDK speaks the protocol, on whichever transport runs it
(streamable HTTP at ``/mcp``, or stdio).

Each handler learns who is asking from ``caller_of(ctx)``: over HTTP the API
key the server authenticated, over stdio the identity the command was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import mcp_types as types
import structlog
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from structlog.contextvars import bound_contextvars

from agentrt._version import __version__
from agentrt.calls.principal import request_id
from agentrt.mcp_server._agents import AgentTools
from agentrt.mcp_server._caller import Caller
from agentrt.mcp_server._prompts import Prompts
from agentrt.mcp_server._tools import RegistryTools

if TYPE_CHECKING:
    from agentrt.runtime import Runtime

__all__ = ["CallerOf", "build_server"]

_log = structlog.get_logger("agentrt.mcp_server")

CallerOf = Callable[[ServerRequestContext[Any, Any]], Caller]
"""Who is asking, from a handler's context."""

INSTRUCTIONS = (
    "agentrt: the tools configured in this runtime (named toolkit.tool) and its agents (agents.<type>: "
    "ask one with a message). Every call runs under the runtime's policies, limits and budgets for your "
    "key, and is audited."
)


def build_server(rt: Runtime, caller_of: CallerOf) -> Server[Any]:
    """A new MCP server exposing ``rt``; ``caller_of`` says whom each request runs as."""
    tools = RegistryTools(rt)
    agents = AgentTools(rt)
    prompts = Prompts(rt)

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        caller = caller_of(ctx)
        listed = tools.listed(caller)
        taken = {tool.name for tool in listed}
        # A toolkit named `agents` would shadow agent tools of the same name: the configured tool wins.
        listed.extend(tool for tool in agents.listed(caller) if tool.name not in taken)
        return types.ListToolsResult(tools=listed)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        caller = caller_of(ctx)
        name, arguments = params.name, params.arguments or {}
        token = request_id.set(caller.request_id)
        try:
            with bound_contextvars(**_log_context(caller), mcp_tool=name):
                if tools.has(caller, name):
                    return await tools.call(caller, name, arguments)
                if agents.has(caller, name):
                    return await agents.call(caller, name, arguments)
        finally:
            request_id.reset(token)
        raise MCPError(types.INVALID_PARAMS, f"unknown tool {name!r}: tools/list names the tools this key may call")

    async def list_prompts(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=prompts.listed(caller_of(ctx)))

    async def get_prompt(
        ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        caller = caller_of(ctx)
        with bound_contextvars(**_log_context(caller)):
            return await prompts.get(caller, params.name, params.arguments)

    return Server(
        "agentrt",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def _log_context(caller: Caller) -> dict[str, Any]:
    # The SDK runs handlers in its own tasks: the HTTP request's log context does not reach them.
    context: dict[str, Any] = {}
    if caller.request_id is not None:
        context["request_id"] = caller.request_id
    if caller.label is not None:
        context["key_name"] = caller.label
    return context
