"""The schema itself: defaults, section checks, references between sections, secrets, paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

import agentrt.config as config_pkg
from agentrt.config import (
    AgentSection,
    BudgetSection,
    Config,
    LimitSection,
    ModelSection,
    PoliciesSection,
    ProviderSection,
    StoreSection,
)


def _errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        Config.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def test_public_names_are_what_all_says() -> None:
    public = {name for name in dir(config_pkg) if not name.startswith("_")}
    modules = {"diff", "loader", "render", "schema"}
    assert set(config_pkg.__all__) == public - modules


def test_an_empty_config_is_valid_and_offline() -> None:
    config = Config()
    assert config.runtime.name == "agentrt"
    assert config.runtime.shutdown_timeout == 30.0
    assert config.runtime.watch is False
    assert config.runtime.watch_debounce == 0.2
    assert config.logging.level == "info"
    assert config.logging.console.format == "logfmt"
    assert config.logging.console.stream == "stderr"
    assert config.logging.file is None
    assert config.store.url == "sqlite:///agentrt.db"
    assert config.providers == {}
    assert config.policies.default == "allow"
    assert config.policies.backend == "sqlite"
    assert config.server.port == 8080
    assert config.server.max_body == 4_000_000
    assert config.observability.metrics.enabled is True
    assert config.observability.tracing.enabled is False
    assert config.observability.monitor.interval == 30.0
    assert Config.model_validate({}) == config


def test_sections_have_their_documented_defaults() -> None:
    provider = ProviderSection(kind="openai")
    assert provider.timeout == 60.0
    assert provider.max_concurrency == 64
    assert (provider.retry.attempts, provider.retry.backoff, provider.retry.max_backoff) == (3, 0.5, 20.0)
    assert (provider.breaker.failures, provider.breaker.cooldown) == (5, 30.0)
    model = ModelSection(provider="openai")
    assert model.capabilities == ["chat", "streaming"]
    assert model.name is None
    agent = AgentSection.model_validate({"class": "app.agents:Support"})
    assert agent.class_ == "app.agents:Support"
    assert (agent.mailbox.size, agent.mailbox.when_full) == (1000, "wait")
    assert (agent.restart.strategy, agent.restart.max_restarts, agent.restart.within) == ("restart", 5, 60.0)
    assert AgentSection(class_="app:Agent").class_ == "app:Agent"
    assert BudgetSection(scope="tenant", max_cost=10).period == "month"


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(ValidationError):
        config.runtime.name = "other"  # type: ignore[misc]


def test_unknown_keys_are_errors_everywhere() -> None:
    errors = _errors({"runtime": {"nmae": "x"}, "logging": {"console": {"colour": True}}, "extra": 1})
    assert set(errors) == {"runtime.nmae", "logging.console.colour", "extra"}


def test_plugin_provider_kinds_are_accepted() -> None:
    assert ProviderSection(kind="my-plugin.kind").kind == "my-plugin.kind"
    with pytest.raises(ValidationError, match="provider kind"):
        ProviderSection(kind="not a kind")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("sqlite:///agentrt.db", True),
        ("sqlite:////var/lib/agentrt.db", True),
        ("postgresql://u@db/agentrt", True),
        ("postgres://u:pw@db/agentrt", True),
        ("postgresql+asyncpg://u@db/agentrt", True),
        ("memory://", True),
        ("memory", True),
        ("mysql://u:hunter22@db/x", False),
        ("agentrt.db", False),
    ],
)
def test_store_url_schemes(url: str, ok: bool) -> None:
    if ok:
        assert StoreSection(url=url).url == url
        return
    with pytest.raises(ValidationError) as info:
        StoreSection(url=url)
    message = str(info.value.errors()[0]["msg"])
    assert "postgresql://" in message
    assert "hunter22" not in message


def test_store_sqlite_path() -> None:
    assert StoreSection(url="sqlite:///data/a.db").sqlite_path == Path("data/a.db")
    assert StoreSection(url="sqlite:////abs/a.db?mode=rwc").sqlite_path == Path("/abs/a.db")
    assert StoreSection(url="sqlite:///:memory:").sqlite_path is None
    assert StoreSection(url="postgresql://db/x").sqlite_path is None
    assert StoreSection(url="postgres://db/x").kind == "postgresql"


def test_policy_sections() -> None:
    with pytest.raises(ValidationError, match="rpm, tpm or both"):
        LimitSection(scope="user")
    with pytest.raises(ValidationError, match="max_cost, max_tokens or both"):
        BudgetSection(scope="user")
    with pytest.raises(ValidationError):
        BudgetSection(scope="user", max_tokens=5, warn_at=0)
    with pytest.raises(ValidationError, match="policy backend"):
        PoliciesSection(backend="mongodb://x")
    assert PoliciesSection(backend="rediss://:pw@host:6380/0").backend.startswith("rediss://")
    with pytest.raises(ValidationError, match="IANA"):
        PoliciesSection(timezone="Mars/Olympus")


def test_retry_backoff_must_not_exceed_its_maximum() -> None:
    with pytest.raises(ValidationError, match="max_backoff is smaller"):
        ProviderSection.model_validate({"kind": "openai", "retry": {"backoff": "30s", "max_backoff": "1s"}})


def test_api_keys_are_sha256_hex_and_normalised() -> None:
    digest = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
    config = Config.model_validate({"server": {"api_keys": [{"key_sha256": digest, "user": "alice"}]}})
    assert config.server.api_keys[0].key_sha256 == digest.lower()
    assert (
        "sha256sum"
        in _errors({"server": {"api_keys": [{"key_sha256": "9f86d0..."}]}})["server.api_keys.0.key_sha256"]
    )


def test_references_between_sections_are_all_reported_at_once() -> None:
    errors = _errors(
        {
            "providers": {"openai": {"kind": "openai"}},
            "models": {
                "a": {"provider": "opneai", "fallbacks": ["b", "ghost"], "aliases": ["fast", "b"]},
                "b": {"provider": "openai", "aliases": ["fast"]},
            },
            "agents": {"x": {"class": "m:X", "model": "nope"}},
            "policies": {
                "limits": [
                    {"scope": "user", "rpm": 1, "models": ["gpt-*", "ghost"], "providers": ["nobody"]}
                ],
                "rules": [{"name": "r", "effect": "deny"}, {"name": "r", "effect": "allow"}],
            },
            "environments": {"dev": {"logging": {}, "loging": {}}},
            "runtime": {"shutdown_timeout": "never"},
        }
    )
    assert "did you mean 'openai'" in errors["models.a.provider"]
    assert "unknown model 'ghost'" in errors["models.a.fallbacks.1"]
    assert "models.a.fallbacks.0" not in errors  # b is a model
    assert "also the name of a model" in errors["models.a.aliases.1"]
    assert "already an alias of model 'a'" in errors["models.b.aliases.0"]
    assert "unknown model 'nope'" in errors["agents.x.model"]
    assert "unknown model 'ghost'" in errors["policies.limits.0.models.1"]
    assert "'gpt-*' matches no configured model or alias" in errors["policies.limits.0.models.0"]
    assert "unknown provider 'nobody'" in errors["policies.limits.0.providers.0"]
    assert "already used by rules[0]" in errors["policies.rules.1.name"]
    assert "did you mean 'logging'" in errors["environments.dev.loging"]
    assert "runtime.shutdown_timeout" in errors  # field errors come in the same report
    assert len(errors) == 11


def test_fallbacks_and_agents_may_name_an_alias() -> None:
    config = Config.model_validate(
        {
            "providers": {"p": {"kind": "local"}},
            "models": {
                "m": {"provider": "p", "aliases": ["default"]},
                "n": {"provider": "p", "fallbacks": ["default"]},
            },
            "agents": {"a": {"class": "x:Y", "model": "default"}},
        }
    )
    assert config.models["n"].fallbacks == ["default"]


def test_secret_values_lists_every_secret_once() -> None:
    config = Config.model_validate(
        {
            "store": {"url": "postgresql://app:db-password@db/agentrt"},
            "providers": {
                "a": {"kind": "openai", "api_key": "sk-a", "headers": {"X-Org": "org-secret"}},
                "b": {"kind": "anthropic", "api_key": "sk-a"},
                "c": {"kind": "local"},
            },
            "policies": {"backend": "redis://:redis-pw@cache:6379/0"},
            "environments": {"prod": {"providers": {"a": {"api_key": "sk-prod"}}}},
        }
    )
    assert sorted(config.secret_values()) == sorted(
        ["sk-a", "org-secret", "db-password", "redis-pw", "sk-prod"]
    )
    assert isinstance(config.providers["a"].api_key, SecretStr)
    assert "sk-a" not in repr(config)


def test_resolve_paths_makes_relative_paths_absolute(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"logging": {"file": {"path": "logs/a.jsonl"}}, "store": {"url": "sqlite:///var/a.db?timeout=5"}}
    )
    resolved = config.resolve_paths(tmp_path)
    assert resolved.logging.file is not None
    assert resolved.logging.file.path == tmp_path / "logs/a.jsonl"
    assert resolved.store.url == f"sqlite:///{tmp_path}/var/a.db?timeout=5"
    assert resolved.store.sqlite_path == tmp_path / "var/a.db"
    assert config.logging.file is not None
    assert config.logging.file.path == Path("logs/a.jsonl")
    assert resolved.resolve_paths(Path("/elsewhere")) == resolved  # absolute paths stay
    assert Config().resolve_paths(tmp_path).store.url == f"sqlite:///{tmp_path}/agentrt.db"
    memory = Config.model_validate({"store": {"url": "memory://"}})
    assert memory.resolve_paths(tmp_path) is memory
