"""The policy in the call path: budgets and limits apply before the provider is called, and the
provider is told the output size the budget reserved, so usage can never outgrow the reservation."""

from __future__ import annotations

from pathlib import Path

import pytest
from calls_support import open_runtime

from agentrt.errors import BudgetExceeded, PolicyDenied, RateLimitExceeded
from agentrt.store import AuditTrail
from agentrt.testing import FakeUpstream, Reply

MODELS = {
    "small": {
        "provider": "oai",
        "name": "gpt-small",
        "max_output_tokens": 256,
        "pricing": {"input": 1.0, "output": 2.0},
    }
}


async def test_the_reserved_output_size_is_sent_to_the_provider(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {"backend": "memory", "budgets": [{"scope": "user", "period": "day", "max_tokens": 100_000}]}
    async with open_runtime(up, tmp_path, models=MODELS, policies=policies) as rt:
        await rt.generate("small", "hi", user="ann")
        await rt.generate("small", "hi", user="ann", max_output_tokens=32)
    assert up.requests[0].body["max_completion_tokens"] == 256  # what the budget held
    assert up.requests[1].body["max_completion_tokens"] == 32  # the caller's own limit wins


async def test_without_budgets_or_token_limits_the_request_is_left_alone(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path, models=MODELS, policies={"backend": "memory"}) as rt:
        await rt.generate("small", "hi", user="ann")
    assert "max_completion_tokens" not in up.requests[0].body


async def test_an_exhausted_budget_refuses_before_the_provider_and_is_audited(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {"backend": "memory", "budgets": [{"scope": "user", "period": "day", "max_tokens": 500}]}
    up.script(Reply(text="ok", usage=(100, 200)))
    async with open_runtime(up, tmp_path, models=MODELS, policies=policies) as rt:
        await rt.generate("small", "hi", user="ann")  # holds 1 + 256 tokens, settles at 300
        with pytest.raises(BudgetExceeded) as caught:
            await rt.generate("small", "hi", user="ann")  # 300 used + 257 to hold > 500
        await rt.generate("small", "hi", user="bob")  # another user's budget
        trail = rt.services.get(AuditTrail)
        await trail.flush()
        denied = await trail.query(decision="deny")
        metrics = rt.metrics.render().decode()
    assert caught.value.scope.startswith("user")
    assert len(up.requests) == 2
    assert [(d.user, d.decision) for d in denied] == [("ann", "deny")]
    assert 'agentrt_policy_decisions_total{decision="deny"' in metrics


async def test_rules_and_rate_limits_apply_per_principal(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {
        "backend": "memory",
        "rules": [{"name": "no-interns", "effect": "deny", "match": {"tenants": ["interns"]}, "reason": "ask a lead"}],
        "limits": [{"scope": "user", "rpm": 2}],
    }
    async with open_runtime(up, tmp_path, models=MODELS, policies=policies) as rt:
        with pytest.raises(PolicyDenied, match="ask a lead"):
            await rt.generate("small", "hi", user="ivy", tenant="interns")
        await rt.generate("small", "1", user="ann")
        await rt.generate("small", "2", user="ann")
        with pytest.raises(RateLimitExceeded) as limited:
            await rt.generate("small", "3", user="ann")
    assert limited.value.retry_after is not None
    assert 0 < limited.value.retry_after <= 60
    assert len(up.requests) == 2


async def test_budget_headroom_is_a_metric_for_bounded_scopes(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {
        "backend": "memory",
        "budgets": [
            {"scope": "tenant", "period": "total", "max_tokens": 10_000},
            {"scope": "user", "period": "total", "max_tokens": 10_000},
        ],
    }
    up.script(Reply(text="ok", usage=(1000, 1000)))
    async with open_runtime(up, tmp_path, models=MODELS, policies=policies) as rt:
        await rt.generate("small", "hi", user="ann", tenant="acme")
        await rt.generate("small", "hi", user="ann", tenant="acme")  # sees the first call's 2,000 tokens
        text = rt.metrics.render().decode()
    lines = [line for line in text.splitlines() if line.startswith("agentrt_budget_headroom_ratio{")]
    assert len(lines) == 1  # the tenant budget; the user budget is left out
    assert "tenant" in lines[0]
    assert "acme" in lines[0]
    assert 0.7 < float(lines[0].rsplit(" ", 1)[1]) < 0.8  # 2,000 used, plus this call's own hold (~270)
