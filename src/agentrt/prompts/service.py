"""The prompt library as a runtime service, reconfigured with the ``prompts`` section on reload."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.config import Config
from agentrt.prompts.library import PromptLibrary
from agentrt.services import service

__all__ = ["prompt_library_service"]


@service(name="prompts", version="1", config_section="prompts")
async def prompt_library_service(config: Config) -> AsyncIterator[PromptLibrary]:
    """The :class:`PromptLibrary` of ``config``; the runtime binds its ``config_version`` to it.

    With no prompts configured nothing is compiled and Jinja2 is never imported.
    """
    yield PromptLibrary(config.prompts)
