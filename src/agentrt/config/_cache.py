"""The sections of the response cache (top-level ``cache``, ``models.<m>.cache``) and of a model's routing
(``models.<m>.deployments``, ``models.<m>.routing``).

::

    cache: {enabled: true, backend: memory, max_bytes: 100MB, ttl: 1h, shared_across_tenants: false}
    models:
      gpt-4o:
        deployments:
          - {provider: openai-eu, name: gpt-4o, weight: 2, rpm: 600, tags: {region: eu}}
          - {provider: azure-us, name: gpt-4o-prod, rpm: 300}
        routing: {strategy: least-busy}
        cache: {ttl: 10m}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from agentrt.config._catalog import PricingSection
from agentrt.config._types import ByteSize, Duration, Section

__all__ = ["CacheSection", "DeploymentSection", "ModelCacheSection", "RoutingSection"]


class CacheSection(Section):
    """The response cache: identical requests get the stored answer, at 0 tokens and $0. Off by default.

    ``backend`` is ``memory`` (this process: an LRU bounded by ``max_bytes``) or a
    ``redis://`` / ``rediss://`` URL (shared by every process that names it).
    A cached answer is only ever served to the tenant that paid for it, unless
    ``shared_across_tenants``.
    """

    enabled: bool = False
    backend: str = "memory"
    max_bytes: ByteSize = Field(default=100_000_000, gt=0)
    """``memory``: the most bytes the stored answers may take; the least recently used go first."""
    ttl: Duration = Field(default=3600.0, gt=0)
    """How long an answer is kept, unless the model (``models.<m>.cache.ttl``) or the call says otherwise."""
    shared_across_tenants: bool = False
    key_prefix: str = "agentrt:cache:"
    """``redis``: the prefix of the cache's keys."""

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, value: str) -> str:
        if value == "memory" or value.startswith(("redis://", "rediss://", "unix://")):
            return value
        raise ValueError("cache.backend must be 'memory' or a Redis URL such as redis://127.0.0.1:6379/0")


class ModelCacheSection(Section):
    """One model's cache settings: ``enabled: false`` keeps its answers out; ``ttl`` overrides the cache's."""

    enabled: bool = True
    ttl: Duration | None = Field(default=None, gt=0)


class RoutingSection(Section):
    """How a model's deployments are ordered for each call.

    ``shuffle`` (weighted at random, the default), ``least-busy`` (fewest calls in
    flight), ``latency`` (lowest moving average of time to first token),
    ``usage`` (the most of its rpm/tpm left), ``cost`` (cheapest first). A call
    tries them in that order, skipping those at their rate limit, before the
    model's fallbacks.
    """

    strategy: Literal["shuffle", "least-busy", "latency", "usage", "cost"] = "shuffle"


class DeploymentSection(Section):
    """One deployment of a model: a provider, its name for the model, a weight, limits and tags."""

    provider: str
    name: str | None = None
    """The provider's name for the model; None: the model's ``name`` (or its key under ``models``)."""
    weight: float = Field(default=1.0, gt=0)
    """``shuffle``: how often it comes first, relative to the others."""
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    """Requests and tokens per minute this deployment takes, enforced exactly across processes."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Free labels (``region: eu``, ``tier: ptu``), shown in explanations."""
    pricing: PricingSection | None = None
    """None: the model's ``pricing``, else the built-in price list for this provider's name."""
