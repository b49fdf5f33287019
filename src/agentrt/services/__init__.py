"""The service container: async-generator lifespans keyed by type, started in dependency order.

::

    @service(version="1", config_section="policies")
    async def policy_service(config: Config, store: Store) -> AsyncIterator[PolicyService]:
        svc = PolicyService(config.policies, store)
        await svc.load()
        yield svc            # live from here ...
        await svc.flush()    # ... to here, run at stop

    container = ServiceContainer()
    container.provide(Config, config)
    container.register(store_service)
    container.register(policy_service)
    async with container:
        policies = container.get(PolicyService)

Modules: ``definition`` (the decorator and ``ServiceDefinition``), ``graph``
(missing dependencies and cycles), ``container`` (start, stop, get, add),
``_lifespan`` (one service's start, and its cleanup under a deadline),
``health``, ``state`` (states and ``info()`` snapshots), ``plugins`` (entry
points).
"""

from agentrt.services.container import ServiceContainer
from agentrt.services.definition import ServiceDefinition, ServiceFactory, definition_of, service
from agentrt.services.health import HealthCheck, HealthReport
from agentrt.services.plugins import discover_entry_points, discover_services
from agentrt.services.state import Reconfigurable, ServiceInfo, ServiceState

__all__ = [
    "HealthCheck",
    "HealthReport",
    "Reconfigurable",
    "ServiceContainer",
    "ServiceDefinition",
    "ServiceFactory",
    "ServiceInfo",
    "ServiceState",
    "definition_of",
    "discover_entry_points",
    "discover_services",
    "service",
]
