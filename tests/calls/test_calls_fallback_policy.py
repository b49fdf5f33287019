"""Fallbacks go through the policy: each candidate is admitted as itself before it is tried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from calls_support import RecordingPolicy, open_runtime

from agentrt.calls import PolicyHook, Principal
from agentrt.errors import CallFailed, PolicyDenied
from agentrt.policy import PolicyEngine
from agentrt.store import UsageLedger
from agentrt.testing import FakeUpstream, Fault, Reply

MODELS: dict[str, Any] = {
    "cheap": {"provider": "oai", "name": "gpt-cheap", "pricing": {"input": 0.1, "output": 0.2}},
    "gpt-5": {"provider": "oai", "name": "gpt-5", "pricing": {"input": 1.0, "output": 2.0}},
    "pricey": {"provider": "ant", "name": "claude-pricey", "pricing": {"input": 1000.0, "output": 1000.0}},
}


async def test_a_tenant_denied_gpt5_never_gets_it_as_a_per_call_fallback(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {
        "backend": "memory",
        "rules": [{"name": "no-gpt5", "effect": "deny", "match": {"tenants": ["t1"], "models": ["gpt-5*"]}}],
    }
    up.script(Fault(status=500, times=3), model="gpt-cheap")
    async with open_runtime(up, tmp_path, models=MODELS, policies=policies) as rt:
        with pytest.raises(CallFailed) as caught:
            await rt.generate("cheap", "hi", tenant="t1", fallbacks=["gpt-5"])
    assert {r.model for r in up.requests} == {"gpt-cheap"}
    assert [(a.model, a.error_type) for a in caught.value.attempts] == [
        *[("cheap", "ProviderUnavailable")] * 3,
        ("gpt-5", "PolicyDenied"),
    ]


async def test_a_small_budget_never_pays_for_a_pricier_fallback(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {"backend": "memory", "budgets": [{"scope": "user", "period": "day", "max_cost": 0.001}]}
    up.script(Fault(status=500, times=3), model="gpt-cheap")
    async with open_runtime(up, tmp_path, models=MODELS, policies=policies) as rt:
        with pytest.raises(CallFailed) as caught:
            await rt.generate("cheap", "hi", user="ann", fallbacks=["pricey"], max_output_tokens=100)
        engine = rt.calls.policy
        assert isinstance(engine, PolicyEngine)
        explanation = await engine.explain(Principal("ann"), rt.models.resolve("cheap"))
    assert {r.model for r in up.requests} == {"gpt-cheap"}  # the pricier model was never asked
    assert caught.value.attempts[-1].error_type == "BudgetExceeded"
    [budget] = explanation.budgets
    assert (budget.used_cost, budget.reserved_cost) == (0, 0)  # the failed candidate's hold was given back


async def test_when_the_policy_refuses_every_candidate_the_primarys_refusal_is_raised(
    up: FakeUpstream, tmp_path: Path
) -> None:
    policies = {
        "backend": "memory",
        "rules": [
            {"name": "no-cheap", "effect": "deny", "match": {"models": ["cheap"]}, "reason": "cheap is retired"},
            {"name": "closed", "effect": "deny", "match": {"tenants": ["t2"]}},
        ],
    }
    store = {"url": f"sqlite:///{tmp_path / 'ledger.db'}"}
    async with open_runtime(up, tmp_path, models=MODELS, policies=policies, store=store) as rt:
        with pytest.raises(PolicyDenied, match="cheap is retired"):
            await rt.generate("cheap", "hi", tenant="t2", fallbacks=["gpt-5", "pricey"])
        served = await rt.generate("cheap", "hi", tenant="t3", fallbacks=["gpt-5"])  # a permitted fallback serves
        ledger = rt.services.get(UsageLedger)
        await ledger.flush()
        outcomes = await ledger.store.fetchall("SELECT tenant, outcome FROM agentrt_usage")
    assert [tuple(row) for row in outcomes] == [("t3", "ok")]  # a refusal is audited, not a call in the ledger
    assert served.model == "gpt-5"
    assert [a.error_type for a in served.attempts] == ["PolicyDenied", None]
    assert [r.model for r in up.requests] == ["gpt-5"]


async def test_each_candidate_is_admitted_as_itself_failed_ones_released_only_the_server_settled(
    up: FakeUpstream, tmp_path: Path
) -> None:
    policy = RecordingPolicy()
    up.script(Fault(status=500, times=3), model="gpt-test")
    up.script(Reply(text="from the backup", usage=(7, 9)), model="claude-test")
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        c = await rt.generate("primary", "hi")
        await rt.generate("plain", "hi")  # no fallback: one admission, as cheap as ever
    assert c.model == "backup"
    assert [a.model.name for a in policy.admitted] == ["primary", "backup", "plain"]
    assert policy.released == ["reservation-1"]
    assert [r for r, _, _ in policy.settled] == ["reservation-2", "reservation-3"]
    assert (policy.settled[0][1].input_tokens, policy.settled[0][1].output_tokens) == (7, 9)
    assert policy.settled[0][2] == pytest.approx((7 * 3.0 + 9 * 4.0) / 1e6)  # the backup's own price
