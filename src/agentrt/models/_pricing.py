"""Prices of models the configuration does not price, from the data bundled with ``genai-prices``.

Only the snapshot that ships inside the installed package is read: nothing here
downloads newer prices (``genai_prices.UpdatePrices`` is never started), so a
lookup is deterministic and works offline. ``genai_prices`` is imported on the
first lookup, not with this module: it takes a few hundred milliseconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import TypeAlias

from agentrt.models._spec import Price

__all__ = ["PriceLookup", "default_price_lookup"]

PriceLookup: TypeAlias = Callable[[str, str], Price | None]
"""``(provider_kind, provider_model) -> Price | None``: how the catalog prices a model without ``pricing``."""

# agentrt provider kinds whose genai-prices provider id differs from the kind, or
# that have no prices at all. Any other kind is looked up under the genai-prices
# provider of the same id (a plugin kind "mistral" or "groq"), if there is one.
_KIND_TO_PROVIDER_ID: dict[str, str | None] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "local": None,
}

# Prices are read for this many tokens and scaled to a million: a million tokens
# would land in the upper tier of tiered prices (Gemini above 200k input tokens).
_SAMPLE_TOKENS = 1_000
_TO_PER_MILLION = Decimal(1_000_000 // _SAMPLE_TOKENS)


@functools.lru_cache(maxsize=1024)
def default_price_lookup(provider_kind: str, model_name: str) -> Price | None:
    """The price of ``model_name`` at the provider of ``provider_kind``, from genai-prices' bundled data.

    ``openai``, ``anthropic`` and ``google`` map to genai-prices' provider ids; a
    plugin kind named like one of its providers (``mistral``, ``groq`` ...) is
    looked up there too. An unknown kind or model, and ``local``, give ``None``.
    The prices are those of the first tier (short prompts); results are cached.
    """
    provider_id = _provider_id(provider_kind)
    if provider_id is None:
        return None
    from genai_prices import Usage, calc_price

    try:
        plain = calc_price(Usage(input_tokens=_SAMPLE_TOKENS), model_name, provider_id=provider_id)
    except LookupError:
        return None
    model_price = plain.model_price
    if model_price.input_mtok is None and model_price.output_mtok is None:
        return None  # priced per request, image or second: not something tokens can cost
    output = calc_price(Usage(output_tokens=_SAMPLE_TOKENS), model_name, provider_id=provider_id)
    cached_input: float | None = None
    if model_price.cache_read_mtok is not None:
        cached = calc_price(
            Usage(input_tokens=_SAMPLE_TOKENS, cache_read_tokens=_SAMPLE_TOKENS),
            model_name,
            provider_id=provider_id,
        )
        cached_input = _per_million(cached.input_price)
    return Price(
        input=_per_million(plain.input_price),
        output=_per_million(output.output_price),
        cached_input=cached_input,
    )


def _per_million(sample_price: Decimal) -> float:
    return float(sample_price * _TO_PER_MILLION)


def _provider_id(provider_kind: str) -> str | None:
    if provider_kind in _KIND_TO_PROVIDER_ID:
        return _KIND_TO_PROVIDER_ID[provider_kind]
    return provider_kind if provider_kind in _known_provider_ids() else None


@functools.cache
def _known_provider_ids() -> frozenset[str]:
    from genai_prices.data_snapshot import get_snapshot

    return frozenset(provider.id for provider in get_snapshot().providers)
