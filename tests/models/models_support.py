"""Helpers for the model catalog tests: catalogs built from real config sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentrt.config import ModelSection, ProviderSection
from agentrt.models import ModelCatalog, PriceLookup

PROVIDERS = {
    "openai": ProviderSection(kind="openai"),
    "anthropic": ProviderSection(kind="anthropic"),
    "offline": ProviderSection(kind="local"),
}


def sections(models: Mapping[str, Mapping[str, Any]]) -> dict[str, ModelSection]:
    """``{"name": {"provider": ..., ...}}`` validated into ModelSections, as the config loader does."""
    return {name: ModelSection.model_validate(dict(spec)) for name, spec in models.items()}


def make_catalog(
    models: Mapping[str, Mapping[str, Any]],
    *,
    providers: Mapping[str, ProviderSection] = PROVIDERS,
    price_lookup: PriceLookup | None = None,
) -> ModelCatalog:
    """A catalog of ``models`` over :data:`PROVIDERS`; no price lookup unless one is given."""
    return ModelCatalog(sections(models), providers, price_lookup=price_lookup)
