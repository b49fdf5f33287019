"""The tool registry as a service of the runtime (see ``agentrt._builtin_services``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.config import Config
from agentrt.services import service
from agentrt.tools.registry import ToolRegistry

__all__ = ["tool_registry_service"]


@service(name="tools", version="1", config_section="tools")
async def tool_registry_service(config: Config) -> AsyncIterator[ToolRegistry]:
    """Every toolkit of the ``tools`` section, started with the runtime; a reload adds, removes and
    restarts toolkits (``reconfigure``); health says which toolkits are not ready.

    Paths in the section are already absolute (``Config.resolve_paths``), so the working directory is
    only the base of a ``Config`` built in code.
    """
    registry = ToolRegistry(config.tools)
    await registry.start()
    try:
        yield registry
    finally:
        await registry.close()
