"""The model catalog: configured models by name and alias, their prices, and what calls cost."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from agentrt.config import ModelSection, PricingSection, ProviderSection
from agentrt.errors import ConfigError, ConfigProblem, UnknownModel
from agentrt.models._pricing import PriceLookup, default_price_lookup
from agentrt.models._spec import Deployment, ModelSpec, Price, PriceSource
from agentrt.types import Usage

__all__ = ["ModelCatalog"]

# How many known names an UnknownModel message lists before it says "and N more".
_LISTED_NAMES = 20


@dataclass(frozen=True, slots=True)
class _Entries:
    """One generation of the catalog. Replaced as a whole by ``reconfigure``, never edited."""

    specs: Mapping[str, ModelSpec]  # configured name -> spec, in configuration order
    index: Mapping[str, ModelSpec]  # name or alias -> spec


class ModelCatalog:
    """The configured models, resolved by name or alias, with their capabilities and prices.

    Built from the ``models`` and ``providers`` sections. A model without
    ``pricing`` is priced with ``price_lookup`` (genai-prices' bundled data by
    default; ``None`` turns the lookup off). ``resolve`` is one dict lookup: it
    runs on every call. ``reconfigure`` swaps in new specs at once, so a
    concurrent ``resolve`` sees either the old catalog or the new one, never a mix.

    An inconsistent configuration (a model naming an undeclared provider, an alias
    that names two models, a fallback to nothing) is a :class:`ConfigError`;
    ``Config`` already rejects these, the check here covers catalogs built by hand.
    """

    __slots__ = ("_entries", "_price_lookup", "_providers", "_unpriced_warned")

    def __init__(
        self,
        models: Mapping[str, ModelSection],
        providers: Mapping[str, ProviderSection],
        *,
        price_lookup: PriceLookup | None = default_price_lookup,
    ) -> None:
        self._providers: Mapping[str, ProviderSection] = dict(providers)
        self._price_lookup = price_lookup
        self._unpriced_warned: set[str] = set()
        self._entries = self._build(models)

    # --- lookups ---------------------------------------------------------------------

    def resolve(self, ref: str) -> ModelSpec:
        """The model named ``ref``, or whose alias is ``ref``; :class:`UnknownModel` when there is none."""
        spec = self._entries.index.get(ref)
        if spec is None:
            raise _unknown_model(ref, self._entries)
        return spec

    def specs(self) -> tuple[ModelSpec, ...]:
        """Every model, in configuration order."""
        return tuple(self._entries.specs.values())

    def names(self) -> tuple[str, ...]:
        """The configured model names (aliases left out), in configuration order."""
        return tuple(self._entries.specs)

    def __contains__(self, ref: object) -> bool:
        return ref in self._entries.index

    def __len__(self) -> int:
        return len(self._entries.specs)

    def __repr__(self) -> str:
        return f"ModelCatalog({', '.join(self._entries.specs)})"

    # --- cost ------------------------------------------------------------------------

    def cost(self, spec: ModelSpec, usage: Usage) -> float | None:
        """What ``usage`` of ``spec`` cost in USD; ``None`` when the model's price is unknown.

        An unknown price is never read as free: the first time a model has no
        price, the warning ``model_price_unknown`` is logged (once per model and
        catalog generation), and ``None`` tells the caller the cost is missing.
        """
        if spec.pricing is not None:
            return spec.pricing.cost(usage)
        if spec.name not in self._unpriced_warned:
            self._unpriced_warned.add(spec.name)
            _warn_unpriced(spec)
        return None

    # --- hot reload ------------------------------------------------------------------

    def reconfigure(
        self,
        models: Mapping[str, ModelSection],
        providers: Mapping[str, ProviderSection] | None = None,
    ) -> None:
        """Replace every spec with those of a new ``models`` section, atomically.

        The providers given at construction stay unless ``providers`` is given.
        If the new section is inconsistent, :class:`ConfigError` is raised and the
        catalog keeps its current specs.
        """
        previous = self._providers
        if providers is not None:
            self._providers = dict(providers)
        try:
            entries = self._build(models)
        except BaseException:
            self._providers = previous
            raise
        self._entries = entries  # the one assignment readers can observe
        self._unpriced_warned = set()  # a reload may have priced them, or may not: say it again once

    # --- building --------------------------------------------------------------------

    def _build(self, models: Mapping[str, ModelSection]) -> _Entries:
        problems = list(_reference_problems(models, self._providers))
        if problems:
            raise ConfigError(problems, source="models")
        canonical: dict[str, str] = {name: name for name in models}
        for name, section in models.items():
            for alias in section.aliases:
                canonical[alias] = name
        specs: dict[str, ModelSpec] = {}
        index: dict[str, ModelSpec] = {}
        for name, section in models.items():
            spec = self._spec(name, section, canonical)
            specs[name] = spec
            index[name] = spec
            for alias in spec.aliases:
                index[alias] = spec
        return _Entries(MappingProxyType(specs), MappingProxyType(index))

    def _spec(self, name: str, section: ModelSection, canonical: Mapping[str, str]) -> ModelSpec:
        provider_model = section.name or name
        pricing, source = self._price(section.pricing, section.provider, provider_model)
        spec = ModelSpec(
            name=name,
            provider=section.provider,
            provider_model=provider_model,
            capabilities=frozenset(section.capabilities),
            context_window=section.context_window,
            max_output_tokens=section.max_output_tokens,
            pricing=pricing,
            # By name rather than alias: logs and attempts then name the same model the same way.
            fallbacks=tuple(canonical[ref] for ref in section.fallbacks),
            aliases=tuple(section.aliases),
            params=MappingProxyType(dict(section.params)),
            price_source=source,
            object_retries=section.object_retries,
            routing=section.routing.strategy if section.routing is not None else "shuffle",
            cache_ttl=section.cache.ttl if section.cache is not None else None,
            cache_enabled=section.cache.enabled if section.cache is not None else True,
        )
        if not section.deployments:
            return spec
        return replace(spec, deployments=tuple(self._deployments(spec, section)))

    def _deployments(self, spec: ModelSpec, section: ModelSection) -> Iterator[ModelSpec]:
        """The spec of each deployment: the model as that provider serves it, at that provider's price."""
        for index, deployment in enumerate(section.deployments):
            provider_model = deployment.name or spec.provider_model
            label = f"{deployment.provider}/{provider_model}"
            pricing, source = self._price(deployment.pricing or section.pricing, deployment.provider, provider_model)
            yield replace(
                spec,
                provider=deployment.provider,
                provider_model=provider_model,
                pricing=pricing,
                price_source=source,
                deployment=Deployment(
                    label,
                    index,
                    deployment.weight,
                    deployment.rpm,
                    deployment.tpm,
                    tuple(sorted(deployment.tags.items())),
                    f"deployment:{spec.name}:{label}",
                ),
            )

    def _price(
        self, configured: PricingSection | None, provider: str, provider_model: str
    ) -> tuple[Price | None, PriceSource | None]:
        if configured is not None:
            return Price(configured.input, configured.output, configured.cached_input), "config"
        if self._price_lookup is None:
            return None, None
        found = self._price_lookup(self._providers[provider].kind, provider_model)
        return (found, "genai-prices") if found is not None else (None, None)


def _reference_problems(
    models: Mapping[str, ModelSection], providers: Mapping[str, ProviderSection]
) -> Iterator[ConfigProblem]:
    owners: dict[str, str] = {}
    for name, section in models.items():
        if section.provider not in providers:
            known = ", ".join(sorted(providers)) or "none"
            yield ConfigProblem(
                f"models.{name}.provider",
                f"unknown provider {section.provider!r}: declare it under providers (known: {known})",
            )
        for position, deployment in enumerate(section.deployments):
            if deployment.provider not in providers:
                yield ConfigProblem(
                    f"models.{name}.deployments.{position}.provider",
                    f"unknown provider {deployment.provider!r}: declare it under providers",
                )
        for position, alias in enumerate(section.aliases):
            if alias in models and alias != name:
                yield ConfigProblem(
                    f"models.{name}.aliases.{position}",
                    f"alias {alias!r} is also the name of a model: rename the alias or the model",
                )
            elif owners.setdefault(alias, name) != name:
                yield ConfigProblem(
                    f"models.{name}.aliases.{position}",
                    f"alias {alias!r} is already an alias of model {owners[alias]!r}: an alias names exactly one model",
                )
    for name, section in models.items():
        for position, ref in enumerate(section.fallbacks):
            if ref not in models and ref not in owners:
                yield ConfigProblem(
                    f"models.{name}.fallbacks.{position}",
                    f"unknown model {ref!r}: name a model or an alias declared under models",
                )


def _unknown_model(ref: str, entries: _Entries) -> UnknownModel:
    import difflib  # lazily: only a miss pays for it

    refs = list(entries.index)
    close = difflib.get_close_matches(ref, refs, n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    if not refs:
        return UnknownModel(
            f"unknown model {ref!r}: no models are configured; declare one under models",
            model=ref,
        )
    listed = ", ".join(refs[:_LISTED_NAMES])
    if len(refs) > _LISTED_NAMES:
        listed += f" and {len(refs) - _LISTED_NAMES} more"
    return UnknownModel(
        f"unknown model {ref!r}{suggestion}: use a model name or alias declared under models (known: {listed})",
        model=ref,
    )


def _warn_unpriced(spec: ModelSpec) -> None:
    # Fetched per use: a proxy taken at import would cache the logging configuration
    # of that moment (and hide this event from structlog.testing.capture_logs).
    import structlog

    log: Any = structlog.get_logger("agentrt.models")
    log.warning(
        "model_price_unknown",
        model=spec.name,
        provider=spec.provider,
        provider_model=spec.provider_model,
        hint=(
            f"costs of this model are not recorded: add models.{spec.name}.pricing "
            "{input, output} in USD per million tokens"
        ),
    )
