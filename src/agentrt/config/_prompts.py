"""The ``prompts`` section: named, sandboxed Jinja2 templates with declared inputs.

Owned by the prompts work; see ``agentrt.prompts``.
"""

from __future__ import annotations

from agentrt.config._types import Section

__all__ = ["PromptSection"]


class PromptSection(Section):
    """One named prompt template."""
