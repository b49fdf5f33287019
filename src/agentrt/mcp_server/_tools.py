"""The configured tools (``rt.tools``) as MCP tools, each call through the governed path.

Every call goes through ``rt.tools.call`` with the caller's principal and
request id: the policy rules, limits, budgets and approvals that apply to a
model's tool call apply here, and each call gets its audit row, metrics and
span. A refusal (a rule, a limit, a budget, a rejected approval), arguments
that do not validate, a timeout: the client gets a result with ``isError``
and our message, which is what MCP asks for errors a model can act on (MCP
keeps protocol errors for a tool that does not exist). A tool the caller may
not see (no ``tools`` scope) is answered as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
import structlog

from agentrt.errors import AgentRTError
from agentrt.mcp_server._caller import TOOLS_SCOPE, Caller
from agentrt.mcp_server._convert import error_result, input_schema, tool_result

if TYPE_CHECKING:
    from agentrt.runtime import Runtime
    from agentrt.tools._handle import ToolsHandle
    from agentrt.tools._source import ToolInfo

__all__ = ["RegistryTools"]

_log = structlog.get_logger("agentrt.mcp_server")


class RegistryTools:
    """The runtime's configured tools, named ``toolkit.tool`` as everywhere else."""

    __slots__ = ("_rt",)

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def _facade(self) -> ToolsHandle | None:
        from agentrt.tools._governance import ToolGovernor

        # A runtime built without the tools services (services overridden in tests) has none to offer.
        return self._rt.tools if ToolGovernor in self._rt.services else None

    def infos(self, caller: Caller) -> list[ToolInfo]:
        """The tools ``caller`` may see: all of them with the ``tools`` scope, none without."""
        facade = self._facade()
        if facade is None or not caller.allows(TOOLS_SCOPE):
            return []
        return list(facade.list())

    def listed(self, caller: Caller) -> list[types.Tool]:
        return [
            types.Tool(
                name=info.full_name, description=info.description or None, input_schema=input_schema(info.parameters)
            )
            for info in self.infos(caller)
        ]

    def has(self, caller: Caller, name: str) -> bool:
        return any(info.full_name == name for info in self.infos(caller))

    async def call(self, caller: Caller, name: str, arguments: Mapping[str, Any]) -> types.CallToolResult:
        facade = self._facade()
        assert facade is not None  # `has` said the tool exists
        try:
            output = await facade.call(name, arguments, principal=caller.principal, request_id=caller.request_id)
        except AgentRTError as err:  # refused, bad arguments, unknown to its source, failed: our words, safe to show
            return error_result(str(err))
        except TimeoutError:
            return error_result(f"tool {name!r} did not answer in time (its timeout is set in the tools section)")
        except Exception as err:  # not ours: its text may hold anything, so it stays in our log
            _log.warning("mcp_tool_failed", tool=name, error=type(err).__name__, exc_info=True)
            return error_result(f"tool {name!r} failed: {type(err).__name__} (details in the server's log)")
        return tool_result(output)
