"""The ``tools`` section: named toolkits (Python modules, built-ins, MCP servers).

Owned by the tools registry work; see ``agentrt.tools``.
"""

from __future__ import annotations

from agentrt.config._types import Section

__all__ = ["ToolkitSection"]


class ToolkitSection(Section):
    """One named toolkit: where its tools come from and how they are governed."""
