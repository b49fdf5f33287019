"""Prices and costs: configured prices, cached tokens, genai-prices lookups, unknown prices."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from models_support import make_catalog, sections
from structlog.testing import capture_logs

from agentrt.models import Price, default_price_lookup
from agentrt.types import Usage

# --- Price.cost ----------------------------------------------------------------------


def test_cost_bills_input_and_output_per_million_tokens() -> None:
    price = Price(input=2.0, output=8.0)

    assert price.cost(Usage(input_tokens=1_000_000, output_tokens=500_000)) == pytest.approx(6.0)
    assert price.cost(Usage(input_tokens=1_000, output_tokens=100)) == pytest.approx(0.0028)
    assert price.cost(Usage()) == 0.0


def test_cached_tokens_are_billed_at_the_cached_price() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5)

    # 600k uncached at 2.0, 400k cached at 0.5
    assert price.cost(Usage(input_tokens=1_000_000, cached_tokens=400_000)) == pytest.approx(1.4)


def test_cached_tokens_without_a_cached_price_are_billed_as_input() -> None:
    price = Price(input=2.0, output=8.0)

    assert price.cost(Usage(input_tokens=1_000_000, cached_tokens=400_000)) == pytest.approx(2.0)


def test_odd_usage_never_makes_a_negative_or_inflated_cost() -> None:
    price = Price(input=2.0, output=8.0, cached_input=0.5)

    assert price.cost(Usage(input_tokens=-5, output_tokens=-5, cached_tokens=-5)) == 0.0
    # More cached tokens than input tokens: at most the input tokens are cached.
    assert price.cost(Usage(input_tokens=1_000_000, cached_tokens=3_000_000)) == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_price_is_a_finite_non_negative_number(bad: float) -> None:
    with pytest.raises(ValueError, match="finite number of USD >= 0"):
        Price(input=bad, output=1.0)
    with pytest.raises(ValueError, match="cached_input"):
        Price(input=1.0, output=1.0, cached_input=bad)


prices = st.builds(
    Price,
    input=st.floats(0, 1_000),
    output=st.floats(0, 1_000),
    cached_input=st.none() | st.floats(0, 1_000),
)
tokens = st.integers(-1_000, 10**9)
more = st.integers(0, 10**9)


@given(prices, tokens, tokens, tokens)
def test_cost_is_never_negative(price: Price, input_tokens: int, output_tokens: int, cached: int) -> None:
    assert price.cost(Usage(input_tokens, output_tokens, cached)) >= 0.0


@given(prices, tokens, tokens, tokens, more, more)
def test_cost_grows_with_input_and_output_tokens(
    price: Price, input_tokens: int, output_tokens: int, cached: int, extra_input: int, extra_output: int
) -> None:
    less = price.cost(Usage(input_tokens, output_tokens, cached))
    bigger = price.cost(Usage(input_tokens + extra_input, output_tokens + extra_output, cached))

    assert less <= bigger


# --- the catalog's cost ----------------------------------------------------------------


def test_catalog_cost_uses_the_configured_price() -> None:
    catalog = make_catalog(
        {"m": {"provider": "openai", "pricing": {"input": 1.0, "output": 4.0, "cached_input": 0.25}}}
    )
    spec = catalog.resolve("m")

    assert spec.price_source == "config"
    assert catalog.cost(spec, Usage(input_tokens=2_000_000, output_tokens=1_000_000, cached_tokens=1_000_000)) == (
        pytest.approx(1.0 + 0.25 + 4.0)
    )


def test_a_configured_price_wins_over_a_lookup() -> None:
    catalog = make_catalog(
        {"gpt-4o-mini": {"provider": "openai", "pricing": {"input": 9.0, "output": 0.0}}},
        price_lookup=default_price_lookup,
    )

    assert catalog.resolve("gpt-4o-mini").pricing == Price(input=9.0, output=0.0)


def test_unknown_price_costs_none_and_warns_exactly_once() -> None:
    catalog = make_catalog(
        {"mystery": {"provider": "openai", "name": "no-such-model-anywhere"}}, price_lookup=default_price_lookup
    )
    spec = catalog.resolve("mystery")

    with capture_logs() as logs:
        costs = [catalog.cost(spec, Usage(input_tokens=10, output_tokens=10)) for _ in range(5)]

    assert costs == [None] * 5
    warnings = [entry for entry in logs if entry["event"] == "model_price_unknown"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["model"] == "mystery"
    assert warnings[0]["provider_model"] == "no-such-model-anywhere"
    assert "models.mystery.pricing" in warnings[0]["hint"]


def test_each_unpriced_model_warns_once() -> None:
    catalog = make_catalog({"a": {"provider": "offline"}, "b": {"provider": "offline"}})

    with capture_logs() as logs:
        for name in ("a", "b", "a", "b", "a"):
            catalog.cost(catalog.resolve(name), Usage(input_tokens=1))

    assert [entry["model"] for entry in logs] == ["a", "b"]


def test_a_reload_forgets_which_models_were_warned_about() -> None:
    catalog = make_catalog({"a": {"provider": "offline"}})
    with capture_logs() as logs:
        catalog.cost(catalog.resolve("a"), Usage(input_tokens=1))
        catalog.reconfigure(sections({"a": {"provider": "offline"}}))
        catalog.cost(catalog.resolve("a"), Usage(input_tokens=1))
        catalog.cost(catalog.resolve("a"), Usage(input_tokens=1))

    assert [entry["event"] for entry in logs] == ["model_price_unknown", "model_price_unknown"]


def test_without_a_lookup_an_unpriced_model_has_no_price() -> None:
    spec = make_catalog({"gpt-4o-mini": {"provider": "openai"}}, price_lookup=None).resolve("gpt-4o-mini")

    assert (spec.pricing, spec.price_source) == (None, None)


# --- genai-prices --------------------------------------------------------------------


def test_genai_prices_knows_gpt_4o_mini() -> None:
    price = default_price_lookup("openai", "gpt-4o-mini")

    assert price is not None
    assert price.input > 0
    assert price.output > price.input
    assert price.cached_input is not None
    assert 0 < price.cached_input < price.input


@pytest.mark.parametrize(("kind", "model"), [("anthropic", "claude-3-5-haiku-latest"), ("google", "gemini-2.0-flash")])
def test_genai_prices_knows_the_other_builtin_kinds(kind: str, model: str) -> None:
    price = default_price_lookup(kind, model)

    assert price is not None
    assert price.input > 0
    assert price.output > 0


def test_a_tiered_price_is_its_first_tier() -> None:
    # Gemini 2.5 Pro costs more above 200k prompt tokens; a per-million price is the short-prompt one.
    price = default_price_lookup("google", "gemini-2.5-pro")

    assert price is not None
    assert price.input == pytest.approx(1.25)


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("openai", "no-such-model-anywhere"),
        ("local", "gpt-4o-mini"),  # a local model is not OpenAI's, whatever its name
        ("my-plugin-kind", "gpt-4o-mini"),
    ],
)
def test_anything_unknown_has_no_price(kind: str, model: str) -> None:
    assert default_price_lookup(kind, model) is None


def test_lookups_are_cached() -> None:
    assert default_price_lookup("openai", "gpt-4o-mini") is default_price_lookup("openai", "gpt-4o-mini")


def test_the_catalog_prices_an_unpriced_model_from_genai_prices() -> None:
    catalog = make_catalog({"small": {"provider": "openai", "name": "gpt-4o-mini"}}, price_lookup=default_price_lookup)
    spec = catalog.resolve("small")

    assert spec.price_source == "genai-prices"
    assert spec.pricing == default_price_lookup("openai", "gpt-4o-mini")
    cost = catalog.cost(spec, Usage(input_tokens=1000, output_tokens=1000))
    assert cost is not None
    assert cost > 0


def test_importing_the_models_package_does_not_import_genai_prices() -> None:
    code = "import sys, agentrt.models; print('genai_prices' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout

    assert out.strip() == "False"
