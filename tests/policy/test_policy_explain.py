"""Explanations: which rule decides and why, which limits and budgets apply, how much is left."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from policy_support import ALICE, OTHER, PRICED, UNPRICED, FakeClock, MakeEngine, ask, policies

from agentrt.calls.principal import Principal
from agentrt.errors import RateLimitExceeded
from agentrt.policy import PolicyEngine
from agentrt.types import Usage

SECTION = policies(
    default="deny",
    rules=[
        {"name": "no-interns", "effect": "deny", "match": {"tenants": ["interns"]}, "reason": "ask your lead"},
        {"name": "acme-gpt", "effect": "allow", "match": {"tenants": ["acme"], "models": ["gpt-*"]}},
    ],
    limits=[{"scope": "user", "rpm": 10, "tpm": 5000}, {"scope": "global", "providers": ["anthropic"], "rpm": 5}],
    budgets=[{"scope": "tenant", "period": "month", "max_cost": 1.5, "max_tokens": 100_000, "warn_at": 0.9}],
    max_output_tokens=4000,
)


async def test_an_explanation_names_the_deciding_rule_and_why_the_others_did_not_match(
    make_engine: MakeEngine, clock: FakeClock
) -> None:
    clock.now = datetime(2025, 6, 15, 12, tzinfo=UTC).timestamp()
    engine = await make_engine(SECTION)
    await engine.settle(await engine.admit(ask(input_tokens=1000, max_output_tokens=1000)), Usage(600, 400), None)
    await engine.admit(ask(input_tokens=200, max_output_tokens=300))  # still held
    clock.advance(10)
    explanation = await engine.explain(ALICE, PRICED)
    assert (explanation.allowed, explanation.rule, explanation.default) == (True, "acme-gpt", "deny")
    assert [(t.name, t.matched) for t in explanation.rules] == [("no-interns", False), ("acme-gpt", True)]
    assert explanation.rules[0].detail == "tenant 'acme' is not in tenants ['interns']"
    assert explanation.rules[1].detail == "matches: tenants=['acme'], models=['gpt-*']"
    assert explanation.max_output_tokens == 4000
    (limit,) = explanation.limits  # the anthropic-only limit does not apply to this model
    assert (limit.limit, limit.scope_key, limit.requests, limit.tokens) == (
        "user rpm=10 tpm=5000",
        "user=alice",
        2,
        1500,
    )
    assert (limit.requests_left, limit.tokens_left, limit.next_request_in) == (8, 3500, 0.0)
    (budget,) = explanation.budgets
    assert (budget.scope_key, budget.period, budget.max_cost, budget.max_tokens) == (
        "tenant=acme",
        "month",
        1.5,
        100_000,
    )
    assert (budget.used_tokens, budget.reserved_tokens, budget.remaining_tokens) == (1000, 500, 98_500)
    assert budget.used_cost == pytest.approx(0.0014)  # 600 in at $1/M + 400 out at $2/M
    assert budget.reserved_cost == pytest.approx(0.0008)
    assert budget.remaining_cost == pytest.approx(1.5 - 0.0022)
    assert budget.period_start == datetime(2025, 6, 1, tzinfo=UTC)
    assert budget.resets_at == datetime(2025, 7, 1, tzinfo=UTC)
    assert explanation.backend == engine.backend.name
    assert explanation.notes == ()


async def test_explaining_changes_no_counter() -> None:
    async with PolicyEngine(policies(limits=[{"scope": "user", "rpm": 1}]), clock=FakeClock()) as engine:
        for _ in range(3):
            await engine.explain(ALICE, PRICED)
        await engine.admit(ask())
        with pytest.raises(RateLimitExceeded):
            await engine.admit(ask())


async def test_a_full_window_says_when_the_next_request_fits() -> None:
    clock = FakeClock()
    async with PolicyEngine(policies(limits=[{"scope": "user", "rpm": 1}]), clock=clock) as engine:
        await engine.admit(ask())
        clock.advance(15)
        (limit,) = (await engine.explain(ALICE, PRICED)).limits
        assert (limit.requests_left, limit.next_request_in) == (0, 45.0)


async def test_a_denied_call_is_explained_with_its_rule_and_reason() -> None:
    async with PolicyEngine(SECTION) as engine:
        explanation = await engine.explain(Principal("ian", "interns"), OTHER, "stream")
        assert (explanation.allowed, explanation.rule, explanation.reason) == (False, "no-interns", "ask your lead")
        assert [t.name for t in explanation.rules] == ["no-interns"]
        default = await engine.explain(Principal("zed", "globex"), OTHER)
        assert (default.allowed, default.rule) == (False, None)  # policies.default decides
        assert [limit.limit for limit in default.limits] == [
            "user rpm=10 tpm=5000",
            "global rpm=5 providers=['anthropic']",
        ]


async def test_a_cost_budget_on_a_model_without_a_price_is_pointed_out() -> None:
    async with PolicyEngine(SECTION) as engine:
        explanation = await engine.explain(ALICE, UNPRICED)
        assert explanation.notes == (
            "model 'mystery' has no known price, so every call is denied under the cost budget "
            "tenant month max_cost=$1.5 max_tokens=100000: set models.mystery.pricing",
        )


async def test_an_explanation_is_plain_data_for_json() -> None:
    async with PolicyEngine(SECTION, clock=FakeClock()) as engine:
        data = (await engine.explain(ALICE, PRICED)).as_dict()
    text = json.dumps(data)
    assert json.loads(text)["budgets"][0]["resets_at"] == "2025-07-01T00:00:00+00:00"
    assert data["rules"][1] == {
        "name": "acme-gpt",
        "effect": "allow",
        "matched": True,
        "detail": data["rules"][1]["detail"],
    }
