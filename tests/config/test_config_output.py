"""What leaves the config package: diffs, rendered configs, the JSON Schema, error messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentrt.config import Config, ConfigChange, config_json_schema, diff_configs, load_config, render_config
from agentrt.errors import ConfigError

Write = Callable[[str, str], Path]  # the `write` fixture of conftest.py

SECRETS = (
    "sk-live-0123456789abcdef",
    "org-header-secret",
    "db-pass-word",
    "redis-pass-word",
    "sk-prod-only-key",
)


def _secret_config() -> Config:
    return Config.model_validate(
        {
            "store": {"url": f"postgresql://app:{SECRETS[2]}@db/agentrt"},
            "providers": {
                "openai": {
                    "kind": "openai",
                    "api_key": SECRETS[0],
                    "headers": {"OpenAI-Organization": SECRETS[1]},
                }
            },
            "policies": {"backend": f"redis://:{SECRETS[3]}@cache:6379/0"},
            "environments": {"prod": {"providers": {"openai": {"api_key": SECRETS[4]}}}},
        }
    )


# --- diff -----------------------------------------------------------------------------------


def _changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, ConfigChange]:
    return {c.path: c for c in diff_configs(Config.model_validate(old), Config.model_validate(new))}


def test_equal_configs_have_no_changes() -> None:
    assert diff_configs(Config(), Config()) == []
    assert diff_configs(_secret_config(), _secret_config()) == []


def test_changed_values_are_listed_by_path_with_their_section() -> None:
    changes = _changes(
        {"runtime": {"shutdown_timeout": "30s"}, "logging": {"level": "info"}, "server": {"api_keys": []}},
        {
            "runtime": {"shutdown_timeout": "1m"},
            "logging": {"level": "debug"},
            "server": {"api_keys": [{"key_sha256": "a" * 64}]},
        },
    )
    assert set(changes) == {"runtime.shutdown_timeout", "logging.level", "server.api_keys"}
    timeout = changes["runtime.shutdown_timeout"]
    assert (timeout.old, timeout.new, timeout.section) == ("30s", "1m", "runtime")
    assert changes["logging.level"].section == "logging"
    assert changes["server.api_keys"].new[0]["key_sha256"] == "a" * 64  # lists compare whole
    assert str(changes["logging.level"]) == "logging.level: 'info' -> 'debug'"


def test_added_and_removed_keys_are_changes() -> None:
    base = {
        "providers": {"a": {"kind": "local"}, "b": {"kind": "local"}},
        "logging": {"levels": {"x": "info"}},
    }
    changes = _changes(
        base,
        {
            "providers": {"a": {"kind": "local"}, "c": {"kind": "local"}},
            "logging": {"levels": {"x": "info", "y.z": "debug"}},
        },
    )
    assert set(changes) == {"providers.b", "providers.c", 'logging.levels["y.z"]'}
    assert changes["providers.b"].new is None
    assert changes["providers.b"].old["kind"] == "local"
    assert changes["providers.c"].old is None
    assert changes["providers.c"].section == "providers"
    assert changes['logging.levels["y.z"]'].section == "logging"


def test_secrets_compare_by_value_but_show_masked() -> None:
    old = {"providers": {"p": {"kind": "openai", "api_key": "sk-old-value", "headers": {"X": "h-old"}}}}
    new = {
        "providers": {
            "p": {"kind": "openai", "api_key": "sk-new-value", "headers": {"X": "h-new", "Y": "h-y"}}
        }
    }
    changes = _changes(old, new)
    assert set(changes) == {"providers.p.api_key", "providers.p.headers.X", "providers.p.headers.Y"}
    assert changes["providers.p.api_key"].old == changes["providers.p.api_key"].new == "**********"
    assert changes["providers.p.headers.Y"].new == "**********"
    text = repr(list(changes.values()))
    for secret in ("sk-old-value", "sk-new-value", "h-old", "h-new", "h-y"):
        assert secret not in text
    added = _changes({}, new)["providers.p"]
    assert added.new["api_key"] == "**********"
    assert "sk-new-value" not in repr(added)


# --- render -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_render_masks_every_secret_and_round_trips(fmt: str) -> None:
    config = _secret_config()
    text = render_config(config, fmt=fmt)  # type: ignore[arg-type]
    for secret in SECRETS:
        assert secret not in text
    assert "**********" in text
    data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert list(data) == list(Config.model_fields)  # declaration order
    assert data["runtime"]["shutdown_timeout"] == "30s"
    assert data["server"]["max_body"] == 4_000_000
    assert data["providers"]["openai"]["api_key"] == "**********"
    assert data["store"]["url"] == "postgresql://app:**********@db/agentrt"
    assert Config.model_validate(data).runtime == config.runtime  # the output is itself a config


def test_render_rejects_unknown_formats() -> None:
    with pytest.raises(ValueError, match="'yaml' or 'json'"):
        render_config(Config(), fmt="xml")  # type: ignore[arg-type]


# --- secrets never in errors -------------------------------------------------------------------


def test_secrets_never_appear_in_errors(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        store: {url: "mysql://app:db-pass-word@db/x"}
        policies: {backend: "mongodb://:redis-pass-word@cache"}
        providers:
          openai:
            kind: openai
            api_key: [sk-live-0123456789abcdef]
            headers: {X-Org: {nested: org-header-secret}}
            timeout: ${SECRET_TIMEOUT}
          other:
            kind: openai
            api_key: ${OPENAI_KEY}
            base_url: ${OPENAI_KEY}
            timeout: ${OPENAI_KEY}
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"SECRET_TIMEOUT": "sk-prod-only-key", "OPENAI_KEY": "sk-prod-only-key"})
    text = str(info.value) + repr(info.value.problems)
    for secret in SECRETS:
        assert secret not in text
    assert len(info.value.problems) == 7  # the base_url that received a key is no URL: a problem too
    assert "**********" in text  # the timeout that received a secret: masked, still reported


def test_secret_env_variable_values_never_appear(write: Write) -> None:
    path = write("agentrt.yaml", "providers: {p: {kind: openai}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"AGENTRT__PROVIDERS__P__HEADERS": "sk-live-0123456789abcdef"})
    assert "sk-live-0123456789abcdef" not in str(info.value)
    assert info.value.problems[0].source == "env AGENTRT__PROVIDERS__P__HEADERS"


# --- JSON Schema --------------------------------------------------------------------------------


def test_the_json_schema_describes_every_section() -> None:
    schema = config_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert set(schema["properties"]) == {
        "$schema",
        "runtime",
        "logging",
        "store",
        "providers",
        "models",
        "policies",
        "tools",
        "prompts",
        "agents",
        "agents_backend",
        "server",
        "observability",
        "cache",
        "environments",
    }
    assert schema["additionalProperties"] is False
    defs = schema["$defs"]
    assert "class" in defs["AgentSection"]["properties"]
    # Each field is its own schema, or an include, or (a scalar) a ${VAR} reference.
    timeout, include, variable = defs["ProviderSection"]["properties"]["timeout"]["anyOf"]
    assert {alt["type"] for alt in timeout["anyOf"]} == {"number", "string"}
    assert (include, variable) == ({"$ref": "#/$defs/Include"}, {"$ref": "#/$defs/VariableReference"})
    assert defs["ProviderSection"]["properties"]["api_key"]["anyOf"][0]["anyOf"][0]["writeOnly"] is True
    json.dumps(schema)  # serialisable as is
