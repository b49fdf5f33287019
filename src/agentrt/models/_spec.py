"""What the catalog knows about one model (:class:`ModelSpec`) and what it costs (:class:`Price`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from agentrt.types import Usage

__all__ = ["Deployment", "ModelSpec", "Price", "PriceSource", "RoutingStrategy"]

RoutingStrategy: TypeAlias = Literal["shuffle", "least-busy", "latency", "usage", "cost"]
"""How a model's deployments are ordered for each call (see :mod:`agentrt.routing`)."""

PriceSource: TypeAlias = Literal["config", "genai-prices"]
"""Where a model's price came from: its ``pricing`` section, or the genai-prices data."""

_PER_MILLION = 1_000_000

_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})


def _no_params() -> Mapping[str, Any]:
    return _NO_PARAMS  # shared: it is read-only


@dataclass(frozen=True, slots=True)
class Price:
    """Prices in USD per million tokens.

    ``cached_input`` is what input tokens served from the provider's prompt cache
    cost; ``None`` means the price of a cached token is not known, and it is
    billed as an ordinary input token (an overestimate rather than a guess).
    """

    input: float
    output: float
    cached_input: float | None = None

    def __post_init__(self) -> None:
        for label, value in (("input", self.input), ("output", self.output), ("cached_input", self.cached_input)):
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"price {label}={value!r}: a price is a finite number of USD >= 0")

    def cost(self, usage: Usage) -> float:
        """The USD cost of ``usage``: cached input at ``cached_input`` (or ``input``), the rest at list price.

        Negative counts are read as zero, and cached tokens as at most the input
        tokens they are part of, so a cost is never negative.
        """
        input_tokens = max(usage.input_tokens, 0)
        cached = min(max(usage.cached_tokens, 0), input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        total = (input_tokens - cached) * self.input + cached * cached_rate + max(usage.output_tokens, 0) * self.output
        return total / _PER_MILLION


@dataclass(frozen=True, slots=True)
class Deployment:
    """One place a model is served: a provider and its name for the model, with its weight and limits.

    ``label`` (``provider/name``) names it in attempts, the ledger and metrics;
    ``key`` names its rate-limit window on the policy backend. ``rpm``/``tpm``
    are enforced across processes when given.
    """

    label: str
    index: int
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    key: str = ""

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One configured model, as the call pipeline needs it.

    ``name`` is the configured name (the key under ``models``), ``provider`` the
    configured provider name, ``provider_model`` the provider's own name for the
    model. ``fallbacks`` are configured model names, tried in order when this
    model fails. ``params`` are the default request parameters (read-only).
    ``pricing`` is ``None`` when the price is unknown; ``price_source`` says
    where a known price came from. A model with ``deployments`` is served by
    them (ordered by ``routing``); the spec of one deployment has ``deployment`` set.
    """

    name: str
    provider: str
    provider_model: str
    capabilities: frozenset[str] = frozenset({"chat", "streaming"})
    context_window: int | None = None
    max_output_tokens: int | None = None
    pricing: Price | None = None
    fallbacks: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    # Excluded from the hash: a mapping is not hashable, and specs that differ only
    # in their parameters may share a hash bucket.
    params: Mapping[str, Any] = field(default_factory=_no_params, hash=False)
    price_source: PriceSource | None = None
    object_retries: int = 2
    # Routing: the deployment specs of a model configured with ``deployments`` (each with its
    # ``deployment`` set; the same name, aliases and fallbacks, its own provider and price), and how
    # they are ordered. Left out of equality and hash: a spec is one model, whatever serves it.
    deployments: tuple[ModelSpec, ...] = field(default=(), compare=False, hash=False)
    deployment: Deployment | None = field(default=None, compare=False, hash=False)
    routing: RoutingStrategy = field(default="shuffle", compare=False, hash=False)
    cache_ttl: float | None = field(default=None, compare=False, hash=False)
    """Seconds a cached answer of this model lives (``models.<m>.cache.ttl``); None: the cache's own TTL."""
    cache_enabled: bool = field(default=True, compare=False, hash=False)
    """False: this model's answers are never cached (``models.<m>.cache.enabled``)."""

    def has(self, capability: str) -> bool:
        """Whether the model declares ``capability`` (``chat``, ``tools``, ``json``, ``vision``, ...)."""
        return capability in self.capabilities
