"""ModelCatalog: resolving names and aliases, unknown models, consistency, hot reload."""

from __future__ import annotations

import pytest
from models_support import PROVIDERS, make_catalog, sections

from agentrt.config import Config, ProviderSection
from agentrt.errors import ConfigError, UnknownModel
from agentrt.models import ModelCatalog, ModelSpec, Price

MODELS = {
    "gpt-4o-mini": {
        "provider": "openai",
        "capabilities": ["chat", "tools", "json", "vision", "streaming"],
        "context_window": 128000,
        "max_output_tokens": 16384,
        "pricing": {"input": 0.15, "output": 0.60},
        "fallbacks": ["haiku"],
        "aliases": ["default", "small"],
        "params": {"temperature": 0.2},
    },
    "claude-haiku": {
        "provider": "anthropic",
        "name": "claude-haiku-4-5",
        "aliases": ["haiku"],
    },
    "local-small": {"provider": "offline"},
}


def test_resolve_by_name_builds_the_whole_spec() -> None:
    spec = make_catalog(MODELS).resolve("gpt-4o-mini")

    assert spec == ModelSpec(
        name="gpt-4o-mini",
        provider="openai",
        provider_model="gpt-4o-mini",
        capabilities=frozenset({"chat", "tools", "json", "vision", "streaming"}),
        context_window=128000,
        max_output_tokens=16384,
        pricing=Price(input=0.15, output=0.60),
        fallbacks=("claude-haiku",),  # the alias "haiku", resolved to the model's name
        aliases=("default", "small"),
        params={"temperature": 0.2},
        price_source="config",
    )
    assert spec.has("tools")
    assert not spec.has("embeddings")


def test_resolve_by_alias_gives_the_same_spec() -> None:
    catalog = make_catalog(MODELS)

    assert catalog.resolve("default") is catalog.resolve("gpt-4o-mini")
    assert catalog.resolve("small") is catalog.resolve("gpt-4o-mini")
    assert catalog.resolve("haiku").name == "claude-haiku"


def test_provider_model_is_the_sections_name_or_else_the_key() -> None:
    catalog = make_catalog(MODELS)

    assert catalog.resolve("claude-haiku").provider_model == "claude-haiku-4-5"
    assert catalog.resolve("local-small").provider_model == "local-small"


def test_defaults_of_a_minimal_model() -> None:
    spec = make_catalog(MODELS).resolve("local-small")

    assert spec.capabilities == frozenset({"chat", "streaming"})
    assert (spec.context_window, spec.max_output_tokens, spec.pricing, spec.price_source) == (
        None,
        None,
        None,
        None,
    )
    assert (spec.fallbacks, spec.aliases, dict(spec.params)) == ((), (), {})


def test_spec_params_are_read_only() -> None:
    spec = make_catalog(MODELS).resolve("default")

    with pytest.raises(TypeError):
        spec.params["temperature"] = 1.0  # type: ignore[index]


def test_unknown_model_suggests_the_closest_name_and_lists_the_known_ones() -> None:
    catalog = make_catalog(MODELS)

    with pytest.raises(UnknownModel) as caught:
        catalog.resolve("gpt-4o-mni")

    message = str(caught.value)
    assert "unknown model 'gpt-4o-mni'" in message
    assert "did you mean 'gpt-4o-mini'?" in message
    for known in ("gpt-4o-mini", "claude-haiku", "local-small", "default", "haiku"):
        assert known in message
    assert caught.value.model == "gpt-4o-mni"
    assert isinstance(caught.value, LookupError)


def test_unknown_model_without_a_close_name_makes_no_suggestion() -> None:
    with pytest.raises(UnknownModel) as caught:
        make_catalog(MODELS).resolve("zzzzzz")

    assert "did you mean" not in str(caught.value)


def test_unknown_model_in_an_empty_catalog_says_none_are_configured() -> None:
    with pytest.raises(UnknownModel, match="no models are configured"):
        make_catalog({}).resolve("default")


def test_a_long_list_of_known_names_is_cut_short() -> None:
    catalog = make_catalog({f"model-{i:02d}": {"provider": "offline"} for i in range(30)})

    with pytest.raises(UnknownModel) as caught:
        catalog.resolve("nothing-like-it")

    assert "and 10 more" in str(caught.value)
    assert "model-29" not in str(caught.value)


def test_names_specs_contains_and_len() -> None:
    catalog = make_catalog(MODELS)

    assert catalog.names() == ("gpt-4o-mini", "claude-haiku", "local-small")
    assert [spec.name for spec in catalog.specs()] == list(catalog.names())
    assert len(catalog) == 3
    assert "default" in catalog
    assert "claude-haiku" in catalog
    assert "gpt-5" not in catalog


def test_the_catalog_of_a_validated_config() -> None:
    config = Config.model_validate(
        {"providers": {"openai": {"kind": "openai"}}, "models": {"m": {"provider": "openai", "aliases": ["a"]}}}
    )

    catalog = ModelCatalog(config.models, config.providers, price_lookup=None)

    assert catalog.resolve("a").name == "m"


def test_inconsistent_sections_are_a_config_error_with_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        make_catalog(
            {
                "a": {"provider": "nowhere", "aliases": ["shared"], "fallbacks": ["ghost"]},
                "b": {"provider": "offline", "aliases": ["shared", "a"]},
            }
        )

    paths = {problem.path for problem in caught.value.problems}
    assert paths == {"models.a.provider", "models.a.fallbacks.0", "models.b.aliases.0", "models.b.aliases.1"}
    assert "declare it under providers" in str(caught.value)


# --- hot reload --------------------------------------------------------------------


def test_reconfigure_swaps_every_spec() -> None:
    catalog = make_catalog(MODELS)
    before = catalog.resolve("default")

    catalog.reconfigure(sections({"gpt-4o": {"provider": "openai", "aliases": ["default"]}}))

    assert catalog.resolve("default").name == "gpt-4o"
    assert catalog.names() == ("gpt-4o",)
    assert "gpt-4o-mini" not in catalog
    assert before.name == "gpt-4o-mini"  # specs already handed out are values: they do not change


def test_reconfigure_serves_the_old_catalog_until_the_new_one_is_complete() -> None:
    seen_during_build: list[tuple[str, bool]] = []
    catalog: ModelCatalog | None = None

    def lookup(kind: str, model: str) -> Price | None:
        # Called while a catalog is being built: the catalog in use must still be the old one, whole.
        if catalog is not None:
            seen_during_build.append((catalog.resolve("default").name, "new-model" in catalog))
        return None

    catalog = ModelCatalog(
        sections({"old-model": {"provider": "openai", "aliases": ["default"]}}), PROVIDERS, price_lookup=lookup
    )
    catalog.reconfigure(
        sections(
            {
                "new-model": {"provider": "openai", "aliases": ["default"]},
                "other-model": {"provider": "openai"},
            }
        )
    )

    assert seen_during_build == [("old-model", False), ("old-model", False)]
    assert catalog.resolve("default").name == "new-model"


def test_a_rejected_reconfigure_changes_nothing() -> None:
    catalog = make_catalog(MODELS)

    with pytest.raises(ConfigError):
        catalog.reconfigure(sections({"x": {"provider": "nowhere"}}))

    assert catalog.names() == ("gpt-4o-mini", "claude-haiku", "local-small")
    assert catalog.resolve("default").name == "gpt-4o-mini"


def test_reconfigure_keeps_the_providers_unless_new_ones_are_given() -> None:
    kinds: list[str] = []

    def lookup(kind: str, model: str) -> Price | None:
        kinds.append(kind)
        return None

    catalog = ModelCatalog(
        sections({"m": {"provider": "p"}}), {"p": ProviderSection(kind="openai")}, price_lookup=lookup
    )
    catalog.reconfigure(sections({"m": {"provider": "p"}}))
    catalog.reconfigure(sections({"m": {"provider": "p"}}), providers={"p": ProviderSection(kind="anthropic")})

    assert kinds == ["openai", "openai", "anthropic"]


def test_a_reconfigure_rejected_for_its_providers_keeps_the_old_providers() -> None:
    catalog = ModelCatalog(sections({"m": {"provider": "p"}}), {"p": ProviderSection(kind="local")}, price_lookup=None)

    with pytest.raises(ConfigError):
        catalog.reconfigure(sections({"m": {"provider": "p"}}), providers={"q": ProviderSection(kind="local")})

    catalog.reconfigure(sections({"n": {"provider": "p"}}))  # "p" is still known
    assert catalog.names() == ("n",)
