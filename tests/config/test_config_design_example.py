"""DESIGN.md's example configuration loads, in every environment, and validates against the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agentrt.config import Config, config_json_schema, load_config, render_config
from agentrt.errors import ConfigError

ENVIRON = {"OPENAI_API_KEY": "sk-openai-0123456789", "ANTHROPIC_API_KEY": "sk-ant-9876543210"}


def test_the_design_example_loads(design_example: Path) -> None:
    loaded = load_config(design_example, environ=ENVIRON)
    config = loaded.config
    assert loaded.files == (design_example,)
    assert config.runtime.name == "support-desk"
    assert config.logging.file is not None
    assert config.logging.file.path == design_example.parent / "logs/agentrt.jsonl"
    assert config.logging.file.rotate.max_bytes == 10_000_000
    assert config.logging.levels == {"agentrt.providers": "debug"}
    assert config.store.url == f"sqlite:///{design_example.parent}/var/agentrt.db"
    openai = config.providers["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == ENVIRON["OPENAI_API_KEY"]
    assert (openai.retry.backoff, openai.breaker.cooldown) == (0.5, 30.0)
    anthropic = config.providers["anthropic"].api_key  # written unquoted inside {...} in DESIGN.md
    assert anthropic is not None
    assert anthropic.get_secret_value() == ENVIRON["ANTHROPIC_API_KEY"]
    assert config.providers["offline"].kind == "local"
    model = config.models["gpt-4o-mini"]
    assert model.pricing is not None
    assert (model.pricing.input, model.pricing.output) == (0.15, 0.60)
    assert (model.fallbacks, model.aliases) == (["claude-haiku"], ["default"])
    assert config.models["claude-haiku"].name == "claude-haiku-4-5"
    assert config.policies.rules[0].match.models == ["gpt-5*"]
    assert [limit.scope for limit in config.policies.limits] == ["user", "global"]
    assert [budget.period for budget in config.policies.budgets] == ["month", "day"]
    assert config.agents["support"].class_ == "myapp.agents:Support"
    assert config.agents["support"].durable is True
    assert config.server.api_keys[0].tenant == "acme"
    assert set(config.secret_values()) == set(ENVIRON.values())


@pytest.mark.parametrize(("env", "level", "fmt"), [("dev", "debug", "pretty"), ("prod", "info", "json")])
def test_the_design_example_environments(design_example: Path, env: str, level: str, fmt: str) -> None:
    config = load_config(design_example, env=env, environ=ENVIRON).config
    assert (config.logging.level, config.logging.console.format) == (level, fmt)


def test_the_design_example_needs_its_keys(design_example: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(design_example, environ={})
    assert [p.path for p in info.value.problems] == [
        "providers.openai.api_key",
        "providers.anthropic.api_key",
    ]
    assert [p.source for p in info.value.problems] == ["design_example.yaml:16", "design_example.yaml:22"]


def test_the_design_example_validates_against_the_schema_model(design_example: Path) -> None:
    # jsonschema is not a dependency; pydantic validating the same data is the schema's source of truth.
    data = yaml.safe_load(render_config(load_config(design_example, environ=ENVIRON).config))
    assert set(data) <= set(config_json_schema()["properties"])
    assert Config.model_validate(data).models == load_config(design_example, environ=ENVIRON).config.models
