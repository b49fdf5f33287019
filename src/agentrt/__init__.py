"""agentrt: an agent runtime for Python.

``import agentrt`` is cheap on purpose: every public name is resolved on first
use (PEP 562), so a CLI start or a plugin scan does not pay for pydantic,
structlog or anything heavier until it needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentrt._version import __version__

if TYPE_CHECKING:
    from agentrt.config import Config, LoadedConfig, load_config
    from agentrt.errors import (
        AgentError,
        AgentNotFound,
        AgentRTError,
        AgentTerminated,
        AgentTimeout,
        BudgetExceeded,
        CallFailed,
        CapabilityError,
        CircuitOpen,
        ConfigError,
        ConfigProblem,
        ContextLengthExceeded,
        MailboxFull,
        ModelError,
        NoRuntimeError,
        OutputValidationError,
        PluginError,
        PolicyDenied,
        PolicyError,
        ProviderAuthError,
        ProviderBadRequest,
        ProviderError,
        ProviderRateLimited,
        ProviderTimeout,
        ProviderUnavailable,
        RateLimitExceeded,
        RuntimeStateError,
        ServiceError,
        ServiceGraphError,
        ServiceNotFound,
        ServiceStartError,
        ServiceStopError,
        StoreError,
        ToolArgumentsError,
        ToolError,
        UnknownModel,
        UnknownProvider,
    )
    from agentrt.logging import bind_context
    from agentrt.runtime import ReloadResult, Runtime
    from agentrt.services import ServiceContainer, ServiceState, service

__all__ = [
    "AgentError",
    "AgentNotFound",
    "AgentRTError",
    "AgentTerminated",
    "AgentTimeout",
    "BudgetExceeded",
    "CallFailed",
    "CapabilityError",
    "CircuitOpen",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "ContextLengthExceeded",
    "LoadedConfig",
    "MailboxFull",
    "ModelError",
    "NoRuntimeError",
    "OutputValidationError",
    "PluginError",
    "PolicyDenied",
    "PolicyError",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimitExceeded",
    "ReloadResult",
    "Runtime",
    "RuntimeStateError",
    "ServiceContainer",
    "ServiceError",
    "ServiceGraphError",
    "ServiceNotFound",
    "ServiceStartError",
    "ServiceState",
    "ServiceStopError",
    "StoreError",
    "ToolArgumentsError",
    "ToolError",
    "UnknownModel",
    "UnknownProvider",
    "__version__",
    "bind_context",
    "load_config",
    "service",
]

# Public name -> the module that defines it; resolved on first access.
_EXPORTS: dict[str, str] = {
    "Runtime": "agentrt.runtime",
    "ReloadResult": "agentrt.runtime",
    "Config": "agentrt.config",
    "LoadedConfig": "agentrt.config",
    "load_config": "agentrt.config",
    "ServiceContainer": "agentrt.services",
    "ServiceState": "agentrt.services",
    "service": "agentrt.services",
    "bind_context": "agentrt.logging",
    "AgentError": "agentrt.errors",
    "AgentNotFound": "agentrt.errors",
    "AgentRTError": "agentrt.errors",
    "AgentTerminated": "agentrt.errors",
    "AgentTimeout": "agentrt.errors",
    "BudgetExceeded": "agentrt.errors",
    "CallFailed": "agentrt.errors",
    "CapabilityError": "agentrt.errors",
    "CircuitOpen": "agentrt.errors",
    "ConfigError": "agentrt.errors",
    "ConfigProblem": "agentrt.errors",
    "ContextLengthExceeded": "agentrt.errors",
    "MailboxFull": "agentrt.errors",
    "ModelError": "agentrt.errors",
    "NoRuntimeError": "agentrt.errors",
    "OutputValidationError": "agentrt.errors",
    "PluginError": "agentrt.errors",
    "PolicyDenied": "agentrt.errors",
    "PolicyError": "agentrt.errors",
    "ProviderAuthError": "agentrt.errors",
    "ProviderBadRequest": "agentrt.errors",
    "ProviderError": "agentrt.errors",
    "ProviderRateLimited": "agentrt.errors",
    "ProviderTimeout": "agentrt.errors",
    "ProviderUnavailable": "agentrt.errors",
    "RateLimitExceeded": "agentrt.errors",
    "RuntimeStateError": "agentrt.errors",
    "ServiceError": "agentrt.errors",
    "ServiceGraphError": "agentrt.errors",
    "ServiceNotFound": "agentrt.errors",
    "ServiceStartError": "agentrt.errors",
    "ServiceStopError": "agentrt.errors",
    "StoreError": "agentrt.errors",
    "ToolArgumentsError": "agentrt.errors",
    "ToolError": "agentrt.errors",
    "UnknownModel": "agentrt.errors",
    "UnknownProvider": "agentrt.errors",
}


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'agentrt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
