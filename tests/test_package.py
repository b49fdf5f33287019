"""The package surface: what `agentrt` exports, and what importing it costs."""

from __future__ import annotations

import json
import subprocess
import sys

import agentrt

EXPECTED_PUBLIC = {
    "__version__",
    "Runtime",
    "ReloadResult",
    "Config",
    "LoadedConfig",
    "load_config",
    "ServiceContainer",
    "ServiceState",
    "service",
    "bind_context",
    # errors
    "AgentError",
    "AgentNotFound",
    "AgentRTError",
    "AgentTerminated",
    "BudgetExceeded",
    "ConfigError",
    "ConfigProblem",
    "ContextLengthExceeded",
    "MailboxFull",
    "NoRuntimeError",
    "PluginError",
    "PolicyDenied",
    "PolicyError",
    "PromptError",
    "PromptInputError",
    "ProviderAuthError",
    "ProviderBadRequest",
    "ProviderError",
    "ProviderQuotaExceeded",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimitExceeded",
    "RuntimeStateError",
    "ServiceError",
    "ServiceGraphError",
    "ServiceNotFound",
    "ServiceStartError",
    "ServiceStopError",
    "CallFailed",
    "CapabilityError",
    "CircuitOpen",
    "ModelError",
    "OutputValidationError",
    "ParamsRefused",
    "ToolError",
    "UnknownModel",
    "ToolArgumentsError",
    "UnknownProvider",
    "AgentTimeout",
    "StoreError",
    "UnknownApproval",  # rt.tools.approve/reject of an id that is not pending
}


def test_all_is_exactly_the_public_api() -> None:
    assert set(agentrt.__all__) == EXPECTED_PUBLIC


def test_every_lazy_export_is_in_all() -> None:
    assert set(agentrt._EXPORTS) | {"__version__"} == set(agentrt.__all__)


def test_every_public_name_resolves() -> None:
    for name in agentrt.__all__:
        assert getattr(agentrt, name) is not None, name


def test_unknown_names_raise_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        agentrt.Nope  # noqa: B018


def test_every_error_derives_from_the_root() -> None:
    from agentrt import errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, errors.AgentRTError), name


HEAVY = [
    "openai",
    "anthropic",
    "google.genai",
    "aiohttp",
    "httpx",
    "fastapi",
    "starlette",
    "opentelemetry.sdk",
    "jinja2",
    "pydantic",
    "structlog",
    "rich",
    "typer",
]


def test_import_agentrt_pulls_in_nothing_heavy() -> None:
    code = f"import sys, json, agentrt; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_the_cli_help_pulls_in_no_provider_sdk_web_framework_or_telemetry() -> None:
    code = (
        "import sys, json\n"
        "from agentrt.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY[:9]!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out.splitlines()[-1]) == []
