"""Rules and caps (first match wins, default decides the rest), decisions, statistics, lifetime, reload."""

from __future__ import annotations

from typing import Any

import pytest
from policy_support import ALICE, BOB, CAROL, OTHER, PRICED, UNPRICED, FakeClock, ask, policies

from agentrt.calls import AllowAll, PolicyHook
from agentrt.calls.principal import Principal
from agentrt.errors import PolicyDenied, RateLimitExceeded, RuntimeStateError
from agentrt.policy import PolicyDecision, PolicyEngine
from agentrt.types import Usage


async def engine_for(**section: Any) -> PolicyEngine:
    engine = PolicyEngine(policies(**section), clock=FakeClock())
    await engine.open()
    return engine


def rule(name: str, effect: str = "deny", reason: str | None = None, **match: Any) -> dict[str, Any]:
    return {"name": name, "effect": effect, "match": match, "reason": reason}


async def test_the_engine_is_a_policy_hook() -> None:
    assert isinstance(PolicyEngine(), PolicyHook)
    assert isinstance(AllowAll(), PolicyHook)


async def test_a_denying_rule_names_itself_and_its_reason() -> None:
    engine = await engine_for(
        rules=[rule("no-big-models-for-interns", tenants=["interns"], models=["gpt-5*"], reason="interns use small")]
    )
    big = PRICED.__class__("gpt-5-pro", "openai", "gpt-5-pro")
    with pytest.raises(PolicyDenied) as caught:
        await engine.admit(ask(Principal("ian", "interns"), big))
    err = caught.value
    assert (err.rule, err.reason) == ("no-big-models-for-interns", "interns use small")
    assert str(err) == (
        "rule 'no-big-models-for-interns' denies generate on model 'gpt-5-pro' "
        "for user 'ian', tenant 'interns': interns use small"
    )
    await engine.admit(ask(Principal("ian", "interns"), PRICED))  # another model: no rule matches
    await engine.admit(ask(ALICE, big))  # another tenant


async def test_the_first_matching_rule_wins() -> None:
    engine = await engine_for(
        rules=[
            rule("vip-allowed", "allow", users=["alice"]),
            rule("acme-denied", "deny", tenants=["acme"], reason="acme is suspended"),
        ]
    )
    await engine.admit(ask(ALICE))  # both match; the allow comes first
    with pytest.raises(PolicyDenied) as caught:
        await engine.admit(ask(BOB))
    assert caught.value.rule == "acme-denied"


async def test_the_default_decides_when_no_rule_matches() -> None:
    engine = await engine_for(default="deny", rules=[rule("staff", "allow", tenants=["acme"])])
    await engine.admit(ask(ALICE))
    with pytest.raises(PolicyDenied) as caught:
        await engine.admit(ask(CAROL))
    assert caught.value.rule == "default"
    assert "policies.default (deny; no rule matched)" in str(caught.value)


@pytest.mark.parametrize(
    ("match", "denied", "allowed"),
    [
        ({"users": ["alice"]}, ask(ALICE), ask(BOB)),
        ({"api_keys": ["ci"]}, ask(Principal("x", api_key="ci")), ask(Principal("x", api_key="prod"))),
        ({"tags": ["trial", "free"]}, ask(Principal("x", tags=("free",))), ask(Principal("x", tags=("paid",)))),
        ({"models": ["claude-*", "o?"]}, ask(model=OTHER), ask(model=PRICED)),
        ({"providers": ["local"]}, ask(model=UNPRICED), ask(model=PRICED)),
        ({"operations": ["embed"]}, ask(operation="embed"), ask(operation="stream")),
        ({"capabilities": ["vision"]}, ask(model=OTHER), ask(model=PRICED)),
    ],
)
async def test_each_condition_matches_what_it_names(match: dict[str, Any], denied: Any, allowed: Any) -> None:
    engine = await engine_for(rules=[rule("r", **match)])
    with pytest.raises(PolicyDenied):
        await engine.admit(denied)
    await engine.admit(allowed)


async def test_model_globs_match_the_configured_name_case_sensitively() -> None:
    engine = await engine_for(rules=[rule("r", models=["GPT-*"])])
    await engine.admit(ask(model=PRICED))


async def test_caps_deny_a_request_and_name_the_cap() -> None:
    engine = await engine_for(max_input_tokens=1000, max_output_tokens=500)
    with pytest.raises(PolicyDenied) as caught:
        await engine.admit(ask(input_tokens=1001))
    assert caught.value.rule == "policies.max_input_tokens"
    assert "policies.max_input_tokens=1000" in str(caught.value)
    with pytest.raises(PolicyDenied) as caught:
        await engine.admit(ask(max_output_tokens=501, output_limited=True))
    assert caught.value.rule == "policies.max_output_tokens"
    assert "pass max_output_tokens=500 or less" in str(caught.value)
    await engine.admit(ask(input_tokens=1000, max_output_tokens=500))


async def test_a_call_that_named_no_output_limit_gets_the_cap_as_its_limit() -> None:
    engine = await engine_for(max_output_tokens=500)
    reservation = await engine.admit(ask(max_output_tokens=16_384))  # the model's maximum, not the caller's
    assert reservation.output_cap == 500
    assert reservation.tokens == 100 + 500


async def test_without_a_cap_budget_or_token_limit_the_output_is_left_alone() -> None:
    engine = await engine_for(limits=[{"scope": "user", "rpm": 10}])
    reservation = await engine.admit(ask(max_output_tokens=16_384))
    assert reservation.output_cap is None


async def test_every_decision_is_recorded_and_counted() -> None:
    decisions: list[PolicyDecision] = []
    engine = PolicyEngine(
        policies(
            rules=[rule("no-globex", tenants=["globex"], reason="unpaid")],
            limits=[{"scope": "user", "rpm": 1}],
        ),
        clock=FakeClock(1000.0),
        on_decision=decisions.append,
    )
    async with engine:
        reservation = await engine.admit(ask(Principal("alice", "acme", api_key="k1")))
        with pytest.raises(RateLimitExceeded):
            await engine.admit(ask(Principal("alice", "acme", api_key="k1")))
        with pytest.raises(PolicyDenied):
            await engine.admit(ask(CAROL, operation="stream"))
    assert decisions[0] == PolicyDecision(
        1000.0, reservation.id, "alice", "acme", "k1", "gpt-4o-mini", "generate", "allow", None, None, None
    )
    assert decisions[1].decision == "deny"
    assert decisions[1].limit == "user rpm=1"
    assert "1 of 1 requests" in str(decisions[1].reason)
    assert (decisions[2].rule, decisions[2].reason, decisions[2].operation) == ("no-globex", "unpaid", "stream")
    assert len({d.request_id for d in decisions}) == 3
    assert engine.decisions == {("default", "allow"): 1, ("user rpm=1", "deny"): 1, ("no-globex", "deny"): 1}


async def test_a_failing_decision_callback_is_logged_and_never_fails_the_call() -> None:
    def broken(decision: PolicyDecision) -> None:
        raise OSError("audit disk full")

    async with PolicyEngine(policies(), on_decision=broken) as engine:
        await engine.admit(ask())
        assert engine.decisions == {("default", "allow"): 1}


async def test_reconfigure_swaps_rules_and_limits_and_keeps_the_counts() -> None:
    clock = FakeClock()
    async with PolicyEngine(policies(limits=[{"scope": "user", "rpm": 2}]), clock=clock) as engine:
        await engine.admit(ask())
        engine.reconfigure(
            policies(
                rules=[rule("no-bob", users=["bob"])],
                limits=[{"scope": "global", "rpm": 100}, {"scope": "user", "rpm": 3}],  # reordered and raised
            )
        )
        with pytest.raises(PolicyDenied):
            await engine.admit(ask(BOB))
        await engine.admit(ask())
        await engine.admit(ask())  # the count went on from 1: the 3rd of 3
        with pytest.raises(RateLimitExceeded) as caught:
            await engine.admit(ask())
        assert caught.value.limit == "user rpm=3"


async def test_a_reservation_made_before_a_reload_settles_on_its_own_counters() -> None:
    async with PolicyEngine(policies(budgets=[{"scope": "user", "period": "total", "max_tokens": 500}])) as engine:
        reservation = await engine.admit(ask())
        engine.reconfigure(policies())  # the budget is gone
        await engine.settle(reservation, Usage(10, 10), 0.0)
        engine.reconfigure(policies(budgets=[{"scope": "user", "period": "total", "max_tokens": 500}]))
        explanation = await engine.explain(ALICE, PRICED)
        assert (explanation.budgets[0].used_tokens, explanation.budgets[0].reserved_tokens) == (20, 0)


async def test_lifetime_open_once_close_twice_and_no_use_outside() -> None:
    engine = PolicyEngine(policies())
    with pytest.raises(RuntimeStateError, match="not open"):
        await engine.admit(ask())
    await engine.open()
    with pytest.raises(RuntimeStateError, match="already open"):
        await engine.open()
    reservation = await engine.admit(ask())
    await engine.close()
    await engine.close()
    with pytest.raises(RuntimeStateError, match="closed"):
        await engine.admit(ask())
    with pytest.raises(RuntimeStateError, match="closed"):
        await engine.settle(reservation, Usage(1, 1), 0.0)


async def test_settle_refuses_what_admit_did_not_return() -> None:
    async with PolicyEngine(policies()) as engine:
        await engine.settle(None, Usage(), None)  # AllowAll's reservation: nothing to do
        with pytest.raises(TypeError, match="expected the Reservation"):
            await engine.settle(object(), Usage(), None)


# --- aliases, and rules that can never match (issue 10, item 4) -------------------------------------

ALIASED = PRICED.__class__("gpt-5-pro", "openai", "gpt-5-pro", aliases=("big", "smart"))


async def test_a_rule_naming_an_alias_matches_the_model() -> None:
    engine = await engine_for(rules=[rule("no-big", models=["big"], reason="too big")])
    with pytest.raises(PolicyDenied) as caught:
        await engine.admit(ask(ALICE, ALIASED))
    assert caught.value.rule == "no-big"
    await engine.admit(ask(ALICE, PRICED))  # no alias 'big': not matched


async def test_a_rule_glob_matches_an_alias() -> None:
    engine = await engine_for(rules=[rule("no-smart", models=["sma*"])])
    with pytest.raises(PolicyDenied):
        await engine.admit(ask(ALICE, ALIASED))


async def test_limits_and_budgets_naming_an_alias_count_the_model() -> None:
    engine = await engine_for(
        limits=[{"scope": "user", "models": ["big"], "rpm": 1}],
        budgets=[{"scope": "user", "models": ["smart"], "max_tokens": 250}],
    )
    await engine.admit(ask(ALICE, ALIASED))
    with pytest.raises(RateLimitExceeded):
        await engine.admit(ask(ALICE, ALIASED))
    route = engine._policy.route(ALICE, ALIASED, "generate")
    assert len(route.budgets) == 1
    assert len(route.limits) == 1
