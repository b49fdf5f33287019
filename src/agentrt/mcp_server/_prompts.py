"""The configured prompts (``rt.prompts``) as MCP prompts: listed with their declared inputs as
arguments, rendered by ``prompts/get``.

MCP passes every prompt argument as a string. An input declared as anything
but a string (``int``, ``bool``, ``list[str]``...) is read as JSON when the
string is JSON (``"3"``, ``"true"``, ``'["a", "b"]'``), so a client can fill
any input; anything else is passed on as the string, and the library's own
check names the input that does not fit. An input is a required argument
when it has no default. An unknown prompt, or inputs that do not fit, are a
protocol error (``INVALID_PARAMS``) with our message: there is no result to
carry an error in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
import orjson
from mcp.shared.exceptions import MCPError

from agentrt.errors import AgentRTError
from agentrt.mcp_server._caller import PROMPTS_SCOPE, Caller
from agentrt.mcp_server._convert import prompt_messages

if TYPE_CHECKING:
    from agentrt.prompts import PromptInfo, PromptInputInfo, PromptLibrary
    from agentrt.runtime import Runtime

__all__ = ["Prompts"]


class Prompts:
    """The runtime's prompt library, for callers with the ``chat`` scope."""

    __slots__ = ("_rt",)

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def _library(self, caller: Caller) -> PromptLibrary | None:
        if not caller.allows(PROMPTS_SCOPE):
            return None
        from agentrt.prompts import PromptLibrary

        services = self._rt.services
        return services.get(PromptLibrary) if PromptLibrary in services else None

    def listed(self, caller: Caller) -> list[types.Prompt]:
        library = self._library(caller)
        if library is None:
            return []
        return [
            types.Prompt(
                name=info.name,
                description=info.description or None,
                arguments=[
                    types.PromptArgument(name=item.name, description=_describe(item), required=item.required)
                    for item in info.inputs
                ],
            )
            for info in library.list()
        ]

    async def get(self, caller: Caller, name: str, arguments: Mapping[str, str] | None) -> types.GetPromptResult:
        library = self._library(caller)
        if library is None or name not in library:
            raise MCPError(types.INVALID_PARAMS, f"unknown prompt {name!r}: prompts/list names the prompts you may get")
        info: PromptInfo = library.info(name)
        declared = {item.name: item for item in info.inputs}
        inputs = {key: _typed(value, declared.get(key)) for key, value in (arguments or {}).items()}
        try:
            rendered = library.render(name, **inputs)
        except AgentRTError as err:  # a missing or mistyped input, a template that fails: our words
            raise MCPError(types.INVALID_PARAMS, str(err)) from None
        return types.GetPromptResult(description=info.description or None, messages=prompt_messages(rendered))


def _describe(item: PromptInputInfo) -> str:
    # MCP arguments are strings: the type tells a client what to write, and how.
    text = f"{item.description} " if item.description else ""
    kind = item.type if _is_text(item) else f"{item.type}, as JSON"
    default = "" if item.required else f"; default {orjson.dumps(item.default, default=str).decode()}"
    return f"{text}({kind}{default})"


def _is_text(item: PromptInputInfo) -> bool:
    return item.schema.get("type") == "string"


def _typed(value: str, item: PromptInputInfo | None) -> Any:
    if item is None or _is_text(item) or not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value  # the library says what is wrong with it, naming the input
