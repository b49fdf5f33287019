"""Budgets on every backend: worst-case holds, settle and release, periods, expiry of lost holds, warnings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from policy_support import ALICE, BOB, CAROL, OTHER, PRICED, UNPRICED, FakeClock, MakeEngine, ask, policies
from structlog.testing import capture_logs

from agentrt.errors import BudgetExceeded, PolicyDenied
from agentrt.policy import PolicyDecision
from agentrt.types import Usage


async def test_a_token_budget_holds_the_worst_case_until_settle(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "day", "max_tokens": 1000}]))
    first = await engine.admit(ask(input_tokens=100, max_output_tokens=400))  # holds 500
    second = await engine.admit(ask(input_tokens=100, max_output_tokens=400))  # holds 500: 1000 in all
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask(input_tokens=1, max_output_tokens=0))
    err = caught.value
    assert err.scope == "user=alice"
    assert err.budget == "user day max_tokens=1000"
    assert "0 tokens used + 1000 reserved + 1 for this request" in str(err)
    await engine.settle(first, Usage(100, 50), 0.0)  # 150 used, 500 reserved
    await engine.release(second)  # 150 used
    await engine.admit(ask(input_tokens=100, max_output_tokens=750))  # 150 + 850 = 1000: fits exactly
    with pytest.raises(BudgetExceeded):
        await engine.admit(ask(input_tokens=1, max_output_tokens=0))


async def test_a_cost_budget_prices_the_worst_case_with_the_models_price(make_engine: MakeEngine) -> None:
    # PRICED: $1/M input, $2/M output. 1000 in + 1000 out = $0.003 worst case.
    engine = await make_engine(policies(budgets=[{"scope": "tenant", "period": "month", "max_cost": 0.01}]))
    held = [await engine.admit(ask(input_tokens=1000, max_output_tokens=1000)) for _ in range(3)]  # $0.009
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask(BOB, input_tokens=1000, max_output_tokens=1000))  # same tenant
    assert caught.value.scope == "tenant=acme"
    assert "would exceed max_cost=$0.01" in str(caught.value)
    await engine.admit(ask(CAROL, input_tokens=1000, max_output_tokens=1000))  # another tenant
    await engine.settle(held[0], Usage(1000, 0), 0.001)  # the actual cost replaces $0.003
    await engine.admit(ask(BOB, input_tokens=1000, max_output_tokens=1000))  # 0.001 + 0.006 + 0.003 = 0.01


async def test_settle_without_a_cost_prices_the_usage_with_the_admitted_models_price(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "total", "max_cost": 0.004}]))
    reservation = await engine.admit(ask(input_tokens=1000, max_output_tokens=1000))
    await engine.settle(reservation, Usage(1000, 1000), None)  # served by a model without a price
    explanation = await engine.explain(ALICE, PRICED)
    assert explanation.budgets[0].used_cost == pytest.approx(0.003)


async def test_a_cost_budget_denies_a_model_without_a_price_and_says_how_to_fix_it(make_engine: MakeEngine) -> None:
    decisions: list[PolicyDecision] = []
    engine = await make_engine(
        policies(budgets=[{"scope": "user", "period": "day", "max_cost": 5}]), on_decision=decisions.append
    )
    with pytest.raises(PolicyDenied) as caught:
        await engine.admit(ask(model=UNPRICED))
    assert "set models.mystery.pricing" in str(caught.value)
    assert decisions[-1].decision == "deny"
    assert decisions[-1].limit == "user day max_cost=$5"


async def test_a_token_budget_admits_a_model_without_a_price(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "day", "max_tokens": 500}]))
    reservation = await engine.admit(ask(model=UNPRICED))
    await engine.settle(reservation, Usage(10, 10), None)
    explanation = await engine.explain(ALICE, UNPRICED)
    assert (explanation.budgets[0].used_tokens, explanation.budgets[0].used_cost) == (20, 0.0)


async def test_budgets_restricted_to_models_count_only_those(make_engine: MakeEngine) -> None:
    engine = await make_engine(
        policies(budgets=[{"scope": "user", "period": "day", "max_tokens": 200, "models": ["claude-*"]}])
    )
    for _ in range(3):
        await engine.admit(ask(model=PRICED))
    await engine.admit(ask(model=OTHER))
    with pytest.raises(BudgetExceeded):
        await engine.admit(ask(model=OTHER))


async def test_a_day_budget_starts_again_at_midnight_utc_and_says_when(
    make_engine: MakeEngine, clock: FakeClock
) -> None:
    clock.now = datetime(2025, 6, 15, 23, 0, tzinfo=UTC).timestamp()
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "day", "max_tokens": 200}]))
    await engine.settle(await engine.admit(ask()), Usage(100, 100), 0.0)
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask())
    assert caught.value.resets_at == datetime(2025, 6, 16, tzinfo=UTC)
    assert "it resets at 2025-06-16T00:00:00+00:00" in str(caught.value)
    clock.now = datetime(2025, 6, 16, 0, 0, tzinfo=UTC).timestamp()
    await engine.admit(ask())


async def test_periods_follow_the_configured_time_zone(make_engine: MakeEngine, clock: FakeClock) -> None:
    # 23:30 UTC on Sunday 15 June is 09:30 on Monday 16 June in Sydney: a new week there.
    clock.now = datetime(2025, 6, 15, 23, 30, tzinfo=UTC).timestamp()
    engine = await make_engine(
        policies(timezone="Australia/Sydney", budgets=[{"scope": "user", "period": "week", "max_tokens": 200}])
    )
    await engine.admit(ask())
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask())
    resets_at = caught.value.resets_at
    assert resets_at is not None
    assert resets_at.isoformat() == "2025-06-23T00:00:00+10:00"  # the next Monday, Sydney time


async def test_a_total_budget_never_resets(make_engine: MakeEngine, clock: FakeClock) -> None:
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "total", "max_tokens": 200}]))
    await engine.settle(await engine.admit(ask()), Usage(100, 100), 0.0)
    clock.advance(400 * 86_400)
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask())
    assert caught.value.resets_at is None
    assert "never resets" in str(caught.value)


async def test_holds_of_a_call_that_never_settles_lapse_after_the_reservation_ttl(
    make_engine: MakeEngine, clock: FakeClock
) -> None:
    engine = await make_engine(
        policies(reservation_ttl="5m", budgets=[{"scope": "user", "period": "total", "max_tokens": 200}])
    )
    await engine.admit(ask())  # never settled: its process "died"
    with pytest.raises(BudgetExceeded):
        await engine.admit(ask())
    clock.advance(299)
    with pytest.raises(BudgetExceeded):
        await engine.admit(ask())
    clock.advance(1)
    late = await engine.admit(ask())
    explanation = await engine.explain(ALICE, PRICED)
    assert (explanation.budgets[0].used_tokens, explanation.budgets[0].reserved_tokens) == (0, 200)
    clock.advance(600)  # a settle after the hold lapsed still counts what the call used
    await engine.settle(late, Usage(30, 20), 0.0)
    explanation = await engine.explain(ALICE, PRICED)
    assert (explanation.budgets[0].used_tokens, explanation.budgets[0].reserved_tokens) == (50, 0)


async def test_settle_and_release_count_only_once(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "total", "max_tokens": 1000}]))
    reservation = await engine.admit(ask())
    await engine.settle(reservation, Usage(60, 40), 0.0)
    await engine.settle(reservation, Usage(60, 40), 0.0)
    await engine.release(reservation)
    explanation = await engine.explain(ALICE, PRICED)
    assert (explanation.budgets[0].used_tokens, explanation.budgets[0].reserved_tokens) == (100, 0)


async def test_a_warning_is_logged_once_per_budget_scope_and_period(make_engine: MakeEngine, clock: FakeClock) -> None:
    engine = await make_engine(
        policies(budgets=[{"scope": "user", "period": "day", "max_tokens": 1000, "warn_at": 0.5}])
    )
    with capture_logs() as logs:
        await engine.settle(await engine.admit(ask()), Usage(100, 100), 0.0)  # 20%
        await engine.settle(await engine.admit(ask(input_tokens=300, max_output_tokens=0)), Usage(300, 0), 0.0)
        await engine.settle(await engine.admit(ask()), Usage(100, 100), 0.0)  # 70% after this one
        await engine.admit(ask(BOB, input_tokens=600, max_output_tokens=0))  # another scope key: 60%
        clock.advance(86_400)
        await engine.admit(ask(input_tokens=600, max_output_tokens=0))  # the next day
    warnings = [entry for entry in logs if entry["event"] == "budget_warning"]
    assert [(w["scope"], w["tokens"]) for w in warnings] == [
        ("user=alice", 500),
        ("user=bob", 600),
        ("user=alice", 600),
    ]
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["budget"] == "user day max_tokens=1000"


# --- calls that name no output limit under a small budget (issue 10, item 5) --------------------------


async def test_a_request_bigger_than_the_whole_budget_says_how_to_fit_and_never_to_wait(
    make_engine: MakeEngine,
) -> None:
    from agentrt.server.errors import describe_error

    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "day", "max_tokens": 500}]))
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask(input_tokens=151, max_output_tokens=1000))  # no limit named: the model's
    err = caught.value
    assert err.resets_at is None  # waiting for the next day cannot help
    assert "can never be admitted as is" in str(err)
    assert "pass max_output_tokens (or max_tokens) of at most 349" in str(err)
    assert "Retry-After" not in describe_error(err).headers
    await engine.admit(ask(input_tokens=151, max_output_tokens=349))  # as the message says: admitted


async def test_a_request_that_fits_the_budget_but_not_what_is_left_says_both(make_engine: MakeEngine) -> None:
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "day", "max_tokens": 500}]))
    await engine.admit(ask(input_tokens=100, max_output_tokens=200))  # 300 held, 200 left
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask(input_tokens=100, max_output_tokens=300))
    assert caught.value.resets_at is not None  # it fits a fresh period: waiting helps
    assert "pass max_output_tokens (or max_tokens) of at most 100" in str(caught.value)


async def test_a_cost_budget_refusal_names_the_output_that_fits(make_engine: MakeEngine) -> None:
    # PRICED: $1/M input, $2/M output; $0.003 leaves $0.002 after 1000 input tokens: 1000 output tokens.
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "total", "max_cost": 0.003}]))
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask(input_tokens=1000, max_output_tokens=5000))
    assert "can never be admitted as is" in str(caught.value)
    assert "of at most 1000" in str(caught.value)


async def test_clip_output_reserves_what_the_token_budget_has_left(make_engine: MakeEngine) -> None:
    budget = {"scope": "user", "period": "day", "max_tokens": 500, "clip_output": True}
    engine = await make_engine(policies(budgets=[budget]))
    first = await engine.admit(ask(input_tokens=100, max_output_tokens=1000))
    assert (first.tokens, first.output_cap) == (500, 400)  # the provider is told 400
    await engine.settle(first, Usage(100, 50), None)  # 150 used
    second = await engine.admit(ask(input_tokens=100, max_output_tokens=1000, output_limited=True))
    assert (second.tokens, second.output_cap) == (350, 250)
    await engine.release(second)  # 150 used
    third = await engine.admit(ask(input_tokens=100, max_output_tokens=10))  # fits as it is: not clipped
    assert third.output_cap == 10
    fourth = await engine.admit(ask(input_tokens=1, max_output_tokens=1000))  # 260 held: 239 out fit
    assert fourth.output_cap == 239
    with pytest.raises(BudgetExceeded) as caught:  # 500 held or used: not even one output token fits
        await engine.admit(ask(input_tokens=1, max_output_tokens=1000))
    assert "+ 2 for this request" in str(caught.value)  # the smallest call it tried: 1 in + 1 out


async def test_clip_output_reserves_what_the_cost_budget_has_left(make_engine: MakeEngine) -> None:
    budget = {"scope": "user", "period": "total", "max_cost": 0.003, "clip_output": True}
    engine = await make_engine(policies(budgets=[budget]))
    reservation = await engine.admit(ask(input_tokens=1000, max_output_tokens=5000))
    assert reservation.output_cap == 1000
    assert reservation.cost == 3_000_000  # nano-USD: exactly the budget
    with pytest.raises(BudgetExceeded):
        await engine.admit(ask(input_tokens=1, max_output_tokens=5000))


async def test_clip_output_refuses_a_request_whose_input_alone_is_over_the_budget(make_engine: MakeEngine) -> None:
    budget = {"scope": "user", "period": "day", "max_tokens": 500, "clip_output": True}
    engine = await make_engine(policies(budgets=[budget]))
    with pytest.raises(BudgetExceeded) as caught:
        await engine.admit(ask(input_tokens=600, max_output_tokens=1000))
    assert caught.value.resets_at is None
    assert "send less input" in str(caught.value)
