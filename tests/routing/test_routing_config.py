"""The deployments and routing of a model in the configuration: what is accepted, what is refused and why."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from agentrt.config import Config, config_json_schema

PROVIDERS = {"a": {"kind": "local"}, "b": {"kind": "local"}}


def config(model: dict[str, Any]) -> dict[str, Any]:
    return {"providers": PROVIDERS, "models": {"m": model}}


def test_a_model_with_deployments_needs_no_provider_of_its_own() -> None:
    data = config({"deployments": [{"provider": "b", "name": "x"}, {"provider": "a"}], "routing": {"strategy": "cost"}})
    jsonschema.validate(data, config_json_schema())  # what editors check
    model = Config.model_validate(data).models["m"]
    assert model.provider == "b"  # its first deployment's stands for it
    assert model.routing is not None
    assert model.routing.strategy == "cost"


def test_a_model_with_neither_provider_nor_deployments_is_refused() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config({"name": "x"}), config_json_schema())
    with pytest.raises(ValidationError, match="provider"):
        Config.model_validate(config({"name": "x"}))


def test_a_deployment_on_an_undeclared_provider_or_listed_twice_is_named() -> None:
    data = config({"deployments": [{"provider": "a", "name": "x"}, {"provider": "c"}, {"provider": "a", "name": "x"}]})
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(data)
    text = str(caught.value)
    assert "models.m.deployments.1.provider" in text
    assert "unknown provider 'c'" in text
    assert "models.m.deployments.2" in text
    assert "repeats deployment 0" in text


@pytest.mark.parametrize(
    ("deployment", "problem"),
    [
        ({"provider": "a", "weight": 0}, "weight"),
        ({"provider": "a", "rpm": 0}, "rpm"),
        ({"provider": "a", "tpm": -5}, "tpm"),
        ({"provider": "a", "region": "eu"}, "region"),  # tags go under tags
    ],
)
def test_bad_deployment_settings_are_refused(deployment: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Config.model_validate(config({"deployments": [deployment]}))


def test_an_unknown_strategy_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValidationError, match="least-busy"):
        Config.model_validate(config({"provider": "a", "routing": {"strategy": "fastest"}}))


def test_the_cache_section_names_what_a_backend_may_be() -> None:
    with pytest.raises(ValidationError, match="memory' or a Redis URL"):
        Config.model_validate({"cache": {"backend": "memcached://x"}})
    parsed = Config.model_validate({"cache": {"max_bytes": "10MB", "ttl": "10m"}}).cache
    assert (parsed.enabled, parsed.max_bytes, parsed.ttl) == (False, 10_000_000, 600.0)
