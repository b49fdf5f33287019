"""The services every runtime registers, in one list the runtime reads at start.

Each later part (models, providers, policy, calls, agents) adds its service
definition here; plugins add theirs through the ``agentrt.services`` entry point.
"""

from __future__ import annotations

from agentrt.services import ServiceDefinition


def builtin_services() -> list[ServiceDefinition]:
    """The built-in service definitions, imported only when a runtime starts."""
    return []
