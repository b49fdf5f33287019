"""The services every runtime registers, in one list the runtime reads at start.

Each part adds its service definition here; plugins add theirs through the
``agentrt.services`` entry point. Imported only when a runtime starts, so
``import agentrt`` pays for none of it.
"""

from __future__ import annotations

from agentrt.services import ServiceDefinition, definition_of


def builtin_services() -> list[ServiceDefinition]:
    """The built-in service definitions."""
    from agentrt.agents.service import agents_service
    from agentrt.calls.service import call_pipeline_service, provider_guards_service, provider_registry_service
    from agentrt.models.service import model_catalog_service
    from agentrt.observability.service import metrics_service, monitor_service, tracing_service
    from agentrt.policy.service import policy_service
    from agentrt.prompts.service import prompt_library_service
    from agentrt.store.responses_service import responses_service
    from agentrt.store.service import audit_service, ledger_service, store_service
    from agentrt.tools._governance_service import tool_governance_service
    from agentrt.tools.service import tool_registry_service

    return [
        definition_of(fn)
        for fn in (
            store_service,
            ledger_service,
            audit_service,
            responses_service,
            model_catalog_service,
            provider_registry_service,
            provider_guards_service,
            metrics_service,
            tracing_service,
            monitor_service,
            policy_service,
            prompt_library_service,
            tool_registry_service,
            call_pipeline_service,
            tool_governance_service,
            agents_service,
        )
    ]
