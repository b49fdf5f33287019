"""Every decision reaches the audit trail with the call's request id, also when the backend fails."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from policy_support import ALICE, FakeClock, ask, policies

from agentrt.errors import BudgetExceeded, PolicyDenied, StoreError
from agentrt.policy import PolicyDecision, PolicyEngine
from agentrt.policy.backends import MemoryBackend
from agentrt.policy.reservation import BudgetLevel, Denial, Reservation


async def test_every_decision_carries_the_calls_request_id() -> None:
    decisions: list[PolicyDecision] = []
    section = policies(
        rules=[{"name": "no-bob", "effect": "deny", "match": {"users": ["bob"]}}],
        budgets=[{"scope": "user", "max_tokens": 300}],
        max_input_tokens=1000,
    )
    engine = PolicyEngine(section, clock=FakeClock(), on_decision=decisions.append)
    await engine.open()
    allowed = await engine.admit(replace(ask(), request_id="req-allow"))
    assert allowed.request_id == "req-allow"
    assert allowed.id != "req-allow"  # the hold's own id stays unique: fallbacks admit one request id again
    with pytest.raises(PolicyDenied):
        await engine.admit(replace(ask(ALICE.__class__("bob")), request_id="req-rule"))
    with pytest.raises(PolicyDenied):
        await engine.admit(replace(ask(input_tokens=5000), request_id="req-cap"))
    with pytest.raises(BudgetExceeded):
        await engine.admit(replace(ask(), request_id="req-budget"))
    assert [(d.request_id, d.decision) for d in decisions] == [
        ("req-allow", "allow"),
        ("req-rule", "deny"),
        ("req-cap", "deny"),
        ("req-budget", "deny"),
    ]


async def test_a_decision_without_a_request_id_gets_a_unique_one() -> None:
    decisions: list[PolicyDecision] = []
    engine = PolicyEngine(policies(), clock=FakeClock(), on_decision=decisions.append)
    await engine.open()
    await engine.admit(ask())
    await engine.admit(ask())
    assert decisions[0].request_id != decisions[1].request_id
    assert all(d.request_id for d in decisions)


class _BrokenBackend(MemoryBackend):
    async def reserve(self, reservation: Reservation, now: float) -> Denial | Sequence[BudgetLevel]:
        raise StoreError("the database is locked", dialect="sqlite", retryable=True)


async def test_a_call_refused_because_the_backend_failed_is_audited() -> None:
    decisions: list[PolicyDecision] = []
    section = policies(limits=[{"scope": "user", "rpm": 10}])
    engine = PolicyEngine(section, _BrokenBackend(), clock=FakeClock(), on_decision=decisions.append)
    await engine.open()
    with pytest.raises(StoreError):
        await engine.admit(replace(ask(), request_id="req-broken"))
    assert len(decisions) == 1
    decision = decisions[0]
    assert (decision.request_id, decision.decision, decision.limit) == ("req-broken", "deny", "policies.backend")
    assert "StoreError" in (decision.reason or "")
