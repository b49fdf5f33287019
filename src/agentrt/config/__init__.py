"""The configuration of agentrt: schema, loading, diffs, rendering.

One master file (``agentrt.yaml``, or ``.json`` / ``.toml``) is validated into a
frozen ``Config``. ``load_config`` reads it with its includes, applies the
environment overlay, ``${VAR}`` interpolation and ``AGENTRT__SECTION__KEY``
variables, and reports every problem at once with its path and ``file:line``::

    loaded = load_config("agentrt.yaml", env="prod")
    loaded.config.providers["openai"].timeout      # 60.0 (seconds)
    loaded.files                                   # what to watch for hot reload

``diff_configs`` says what a reload changes, ``render_config`` shows a config with
its secrets masked, ``config_json_schema`` describes the file to editors.
"""

from agentrt.config._catalog import (
    BreakerSection,
    Capability,
    ModelSection,
    PricingSection,
    ProviderSection,
    RetrySection,
)
from agentrt.config._policy import (
    BudgetSection,
    LimitSection,
    Operation,
    PoliciesSection,
    RuleMatch,
    RuleSection,
)
from agentrt.config._sections import (
    AgentsBackendSection,
    AgentSection,
    ApiKeySection,
    ConsoleLogSection,
    FileLogSection,
    LoggingSection,
    MailboxSection,
    MetricsSection,
    MonitorSection,
    ObservabilitySection,
    RayBackendSection,
    RestartSection,
    RotateSection,
    RuntimeSection,
    ServerSection,
    StoreSection,
    TracingSection,
)
from agentrt.config._types import (
    ByteSize,
    Duration,
    Level,
    Scope,
    format_duration,
    parse_byte_size,
    parse_duration,
)
from agentrt.config.diff import ConfigChange, diff_configs
from agentrt.config.loader import LoadedConfig, load_config
from agentrt.config.render import config_json_schema, render_config
from agentrt.config.schema import Config

__all__ = [
    "AgentSection",
    "AgentsBackendSection",
    "ApiKeySection",
    "BreakerSection",
    "BudgetSection",
    "ByteSize",
    "Capability",
    "Config",
    "ConfigChange",
    "ConsoleLogSection",
    "Duration",
    "FileLogSection",
    "Level",
    "LimitSection",
    "LoadedConfig",
    "LoggingSection",
    "MailboxSection",
    "MetricsSection",
    "ModelSection",
    "MonitorSection",
    "ObservabilitySection",
    "Operation",
    "PoliciesSection",
    "PricingSection",
    "ProviderSection",
    "RayBackendSection",
    "RestartSection",
    "RetrySection",
    "RotateSection",
    "RuleMatch",
    "RuleSection",
    "RuntimeSection",
    "Scope",
    "ServerSection",
    "StoreSection",
    "TracingSection",
    "config_json_schema",
    "diff_configs",
    "format_duration",
    "load_config",
    "parse_byte_size",
    "parse_duration",
    "render_config",
]
