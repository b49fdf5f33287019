"""Helpers for the routing tests: deployment specs built by the real catalog, and a runtime config.
(A plain module imported as ``routing_support``: the test folders are not packages.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentrt.config import Config
from agentrt.models import ModelCatalog, ModelSpec
from agentrt.testing import FakeUpstream

FAST_RETRY = {"attempts": 1, "backoff": "1ms", "max_backoff": "5ms"}


def model_with(deployments: list[dict[str, Any]], strategy: str = "shuffle", **extra: Any) -> ModelSpec:
    """The spec of model ``m`` with ``deployments`` (providers ``a``..``h``, all ``local``)."""
    providers = {name: {"kind": "local"} for name in "abcdefgh"}
    section = {"deployments": deployments, "routing": {"strategy": strategy}, **extra}
    if not deployments:
        section["provider"] = "a"
    config = Config.model_validate({"providers": providers, "models": {"m": section}})
    return ModelCatalog(config.models, config.providers, price_lookup=None).resolve("m")


def runtime_config(up: FakeUpstream, tmp_path: Path, model: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Providers ``east`` (OpenAI format) and ``west`` (Anthropic format) on one fake upstream; model ``m``."""
    breaker = overrides.pop("breaker", {"failures": 5, "cooldown": "30s"})
    config: dict[str, Any] = {
        "logging": {"console": {"format": "off"}},
        "store": {"url": f"sqlite:///{tmp_path / 'agentrt.db'}"},
        "providers": {
            "east": {
                "kind": "openai",
                "api_key": "sk-test-key-0123456789",
                "base_url": up.openai_base_url,
                "timeout": "30s",
                "retry": FAST_RETRY,
                "breaker": breaker,
            },
            "west": {
                "kind": "anthropic",
                "api_key": "sk-ant-test-key-0123456789",
                "base_url": up.anthropic_base_url,
                "timeout": "30s",
                "retry": FAST_RETRY,
                "breaker": breaker,
            },
        },
        "models": {"m": {"capabilities": ["chat", "streaming"], **model}},
        "policies": {"backend": "memory"},
    }
    config.update(overrides)
    return config
