"""Validation names every model, provider or glob of a rule, limit or budget that matches nothing configured."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agentrt.config import Config

MODELS = {
    "gpt-4o-mini": {"provider": "openai", "aliases": ["default"]},
    "claude-haiku": {"provider": "anthropic"},
}
PROVIDERS = {"openai": {"kind": "openai"}, "anthropic": {"kind": "anthropic"}}


def _errors(policies: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        Config.model_validate({"providers": PROVIDERS, "models": MODELS, "policies": policies})
    return {".".join(str(part) for part in error["loc"]): error["msg"] for error in info.value.errors()}


def test_a_rule_glob_that_matches_no_model_or_alias_is_named() -> None:
    errors = _errors(
        {"rules": [{"name": "no-big", "effect": "deny", "match": {"models": ["gpt-4o*", "gpt-5*", "defualt"]}}]}
    )
    assert set(errors) == {"policies.rules.0.match.models.1", "policies.rules.0.match.models.2"}
    message = errors["policies.rules.0.match.models.1"]
    assert "'gpt-5*' matches no configured model or alias" in message
    assert "configured: claude-haiku, default, gpt-4o-mini" in message
    assert "did you mean 'default'" in errors["policies.rules.0.match.models.2"]


def test_a_rule_naming_an_unknown_provider_is_named() -> None:
    errors = _errors({"rules": [{"name": "r", "effect": "deny", "match": {"providers": ["openai", "opnai"]}}]})
    assert set(errors) == {"policies.rules.0.match.providers.1"}
    assert "unknown provider 'opnai' (did you mean 'openai'?)" in errors["policies.rules.0.match.providers.1"]


def test_limit_and_budget_globs_that_match_nothing_are_named() -> None:
    errors = _errors(
        {
            "limits": [{"scope": "user", "rpm": 1, "models": ["claude-*", "gemini-*"]}],
            "budgets": [{"scope": "user", "max_tokens": 10, "models": ["o3*"]}],
        }
    )
    assert set(errors) == {"policies.limits.0.models.1", "policies.budgets.0.models.0"}
    assert "'gemini-*' matches no configured model or alias" in errors["policies.limits.0.models.1"]


def test_names_and_aliases_and_matching_globs_validate() -> None:
    config = Config.model_validate(
        {
            "providers": PROVIDERS,
            "models": MODELS,
            "policies": {
                "rules": [{"name": "r", "effect": "deny", "match": {"models": ["default", "claude*"]}}],
                "limits": [{"scope": "user", "rpm": 1, "models": ["defau?t"], "providers": ["anthropic"]}],
                "budgets": [{"scope": "user", "max_tokens": 10, "models": ["gpt-4o-mini"]}],
            },
        }
    )
    assert config.policies.rules[0].match.models == ["default", "claude*"]
