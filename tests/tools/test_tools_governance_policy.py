"""Tool calls under the policy: rules with tool globs, tool rate limits and cost budgets, on every backend."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from governance_support import ALICE, BOB, INTERN, MakeEngines, policies, shared_engines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agentrt.calls import Admission
from agentrt.calls.principal import Principal
from agentrt.errors import BudgetExceeded, PolicyDenied, PolicyError, RateLimitExceeded
from agentrt.models import ModelSpec, Price
from agentrt.policy import PolicyEngine
from agentrt.policy.tool_calls import ToolAdmission

__all__ = ["shared_engines"]  # the fixture, imported for the tests below

MODEL = ModelSpec("gpt-4o-mini", "openai", "gpt-4o-mini", frozenset({"chat", "tools"}), pricing=Price(1.0, 2.0))

NO_DELETES = {
    "name": "no-deletes-for-interns",
    "effect": "deny",
    "match": {"tenants": ["interns"], "tools": ["github.delete_*"]},
    "reason": "interns may not delete on GitHub",
}


async def _engine(**values: object) -> PolicyEngine:
    engine = PolicyEngine(policies(**values))
    await engine.open()
    return engine


async def test_a_rule_with_a_tool_glob_denies_the_matching_tool_for_its_tenant_only() -> None:
    engine = await _engine(rules=[NO_DELETES])
    with pytest.raises(PolicyDenied, match="no-deletes-for-interns") as denied:
        await engine.admit_tool(INTERN, "github.delete_repo")
    assert denied.value.rule == "no-deletes-for-interns"
    assert "interns may not delete on GitHub" in str(denied.value)
    assert isinstance(await engine.admit_tool(INTERN, "github.search"), ToolAdmission)
    assert isinstance(await engine.admit_tool(ALICE, "github.delete_repo"), ToolAdmission)
    # A rule with tools matches tool calls only: the intern's model calls are not its business.
    await engine.admit(Admission(INTERN, "generate", MODEL, 10, 10))
    assert engine.decisions[("no-deletes-for-interns", "deny")] == 1
    await engine.close()


async def test_model_rules_do_not_match_tool_calls_and_principal_rules_match_both() -> None:
    engine = await _engine(
        default="deny",
        rules=[
            {"name": "models-for-acme", "effect": "allow", "match": {"tenants": ["acme"], "models": ["gpt-*"]}},
            {"name": "tools-for-acme", "effect": "allow", "match": {"tenants": ["acme"], "operations": ["tool"]}},
            {"name": "everything-for-root", "effect": "allow", "match": {"users": ["root"]}},
        ],
    )
    admitted = await engine.admit_tool(ALICE, "calc.add")
    assert admitted.rule == "tools-for-acme"
    with pytest.raises(PolicyDenied, match=r"policies\.default"):
        await engine.admit_tool(INTERN, "calc.add")
    assert (await engine.admit_tool(Principal("root"), "calc.add")).rule == "everything-for-root"
    await engine.close()


async def test_an_allow_rule_can_require_approval_for_the_tools_it_matches() -> None:
    engine = await _engine(
        rules=[
            {
                "name": "deploys-need-a-yes",
                "effect": "allow",
                "approval": "required",
                "match": {"tools": ["ops.deploy"]},
            }
        ]
    )
    gated = await engine.admit_tool(ALICE, "ops.deploy")
    free = await engine.admit_tool(ALICE, "ops.status")
    assert (gated.approval, gated.rule) == (True, "deploys-need-a-yes")
    assert (free.approval, free.rule) == (False, None)
    await engine.close()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"limits": [{"scope": "user", "tools": ["a.*"], "tpm": 10}]}, "rpm only"),
        ({"limits": [{"scope": "user", "tools": ["a.*"], "models": ["m"], "rpm": 1}]}, "not both"),
        ({"limits": [{"scope": "user+tool", "rpm": 1}]}, "the tool scope needs tools"),
        ({"limits": [{"scope": "model", "tools": ["a.*"], "rpm": 1}]}, "no model or provider"),
        ({"budgets": [{"scope": "user", "tools": ["a.*"], "max_tokens": 10}]}, "needs max_cost"),
        ({"rules": [{"name": "r", "effect": "deny", "match": {"tools": ["a.*"], "models": ["m"]}}]}, "split it"),
        ({"rules": [{"name": "r", "effect": "deny", "approval": "required", "match": {"tools": ["a"]}}]}, "allow"),
        ({"rules": [{"name": "r", "effect": "allow", "approval": "required"}]}, "add match.tools"),
        ({"approval_timeout": "0s"}, "approval_timeout"),
    ],
)
def test_tool_policies_that_cannot_mean_anything_are_config_errors(section: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policies(**section)


async def test_tool_limits_do_not_count_model_calls_and_model_limits_do_not_count_tool_calls() -> None:
    engine = await _engine(
        limits=[{"scope": "user", "rpm": 1}, {"scope": "user", "tools": ["github.*"], "rpm": 2}],
    )
    await engine.admit(Admission(ALICE, "generate", MODEL, 10, 10))
    for _ in range(2):
        await engine.admit_tool(ALICE, "github.search")
    await engine.admit_tool(ALICE, "calc.add")  # not under the github limit, and model limits ignore it
    with pytest.raises(RateLimitExceeded, match=r"2 of 2 calls"):
        await engine.admit_tool(ALICE, "github.search")
    with pytest.raises(RateLimitExceeded):
        await engine.admit(Admission(ALICE, "generate", MODEL, 10, 10))
    await engine.close()


async def test_a_tool_scope_counts_each_tool_on_its_own() -> None:
    engine = await _engine(limits=[{"scope": "user+tool", "tools": ["github.*"], "rpm": 1}])
    await engine.admit_tool(ALICE, "github.search")
    await engine.admit_tool(ALICE, "github.read")
    await engine.admit_tool(BOB, "github.search")
    with pytest.raises(RateLimitExceeded, match=r"tool=github\.search"):
        await engine.admit_tool(ALICE, "github.search")
    await engine.close()


async def test_tool_rpm_is_never_exceeded_under_concurrency(shared_engines: MakeEngines) -> None:
    section = policies(limits=[{"scope": "user", "tools": ["github.*"], "rpm": 10}])
    engines = await shared_engines(section, 3)

    async def attempt(i: int) -> bool:
        try:
            await engines[i % 3].admit_tool(ALICE, f"github.tool_{i % 4}")
        except RateLimitExceeded:
            return False
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(60)))
    assert sum(results) == 10  # exactly the limit: never one over, none lost
    # Another user has a window of their own.
    await engines[0].admit_tool(BOB, "github.tool_0")


async def test_a_cost_budget_per_tool_call_is_never_exceeded_under_concurrency(shared_engines: MakeEngines) -> None:
    section = policies(budgets=[{"scope": "tenant", "period": "day", "max_cost": 1.0, "tools": ["search.*"]}])
    engines = await shared_engines(section, 3)

    async def attempt(i: int) -> bool:
        engine = engines[i % 3]
        try:
            admitted = await engine.admit_tool(ALICE if i % 2 else BOB, "search.web", cost=0.3)
        except BudgetExceeded:
            return False
        await asyncio.sleep(0)
        await engine.settle_tool(admitted.reservation)
        return True

    results = await asyncio.gather(*(attempt(i) for i in range(40)))
    assert sum(results) == 3  # 3 x $0.30 fits in $1.00; a 4th would make $1.20
    with pytest.raises(BudgetExceeded, match=r"search\.web"):
        await engines[0].admit_tool(ALICE, "search.web", cost=0.3)
    # A tool without a cost charges nothing and is not refused by the spent budget.
    await engines[0].admit_tool(ALICE, "search.web")


async def test_a_released_tool_hold_gives_its_cost_back() -> None:
    engine = await _engine(budgets=[{"scope": "user", "period": "day", "max_cost": 0.5}])
    held = await engine.admit_tool(ALICE, "ops.deploy", cost=0.5)
    with pytest.raises(BudgetExceeded):
        await engine.admit_tool(ALICE, "ops.deploy", cost=0.5)
    await engine.release(held.reservation)  # e.g. the approval was refused: the tool never ran
    again = await engine.admit_tool(ALICE, "ops.deploy", cost=0.5)
    await engine.settle_tool(again.reservation)
    with pytest.raises(PolicyError):
        await engine.admit_tool(ALICE, "ops.deploy", cost=0.01)
    await engine.close()


async def test_a_budget_without_filters_counts_model_and_tool_costs_together() -> None:
    engine = await _engine(budgets=[{"scope": "tenant", "period": "month", "max_cost": 0.001}])
    await engine.settle_tool((await engine.admit_tool(ALICE, "ops.deploy", cost=0.0009)).reservation)
    # 1,000 tokens at $1/M input + output would cost more than the $0.0001 left.
    with pytest.raises(BudgetExceeded):
        await engine.admit(Admission(ALICE, "generate", MODEL, 500, 500))
    await engine.close()


async def test_a_settled_tool_call_leaves_no_journal_row_for_crash_recovery(tmp_path: Path) -> None:
    # The sqlite backend journals each hold until the ledger writes the call's row; tool calls have no
    # ledger row, so their settle clears the journal itself (else a restart would "recover" a model call).
    from agentrt.policy.backends.sqlite import SqliteBackend
    from agentrt.store import open_store
    from agentrt.store.ledger import PENDING_TABLE

    section = policies(backend="sqlite", budgets=[{"scope": "user", "period": "day", "max_cost": 5.0}])
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    async with store, PolicyEngine(section, SqliteBackend(store)) as engine:
        settled = await engine.admit_tool(ALICE, "ops.deploy", cost=1.0)
        await engine.settle_tool(settled.reservation)
        released = await engine.admit_tool(ALICE, "ops.deploy", cost=1.0)
        await engine.release(released.reservation)
        held = await engine.admit_tool(ALICE, "ops.deploy", cost=1.0)
        flush = getattr(engine.backend, "flush", None)
        if flush is not None:
            await flush()
        rows = await store.fetchall(f"SELECT rid, state FROM {PENDING_TABLE}")
        await engine.settle_tool(held.reservation)
    assert rows == [(held.reservation.id, "held")]  # only the call still under way


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rpm=st.integers(min_value=1, max_value=12), callers=st.integers(min_value=0, max_value=40))
async def test_tool_rpm_admits_exactly_min_of_callers_and_rpm(rpm: int, callers: int) -> None:
    engine = await _engine(limits=[{"scope": "user", "tools": ["*"], "rpm": rpm}])

    async def attempt() -> bool:
        try:
            await engine.admit_tool(ALICE, "any.tool")
        except RateLimitExceeded:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(callers)))
    await engine.close()
    assert sum(results) == min(callers, rpm)


def test_agentrt_policy_check_explains_a_tool_call(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentrt.cli._app import app

    (tmp_path / "agentrt.yaml").write_text(
        "tools: {github: {builtin: calculator}, ops: {builtin: datetime}}\n"
        "policies:\n"
        "  backend: memory\n"
        "  rules:\n"
        "    - {name: no-deletes-for-interns, effect: deny, match: {tenants: [interns], tools: ['github.delete_*']}}\n"
        "    - {name: deploys-need-a-yes, effect: allow, approval: required, match: {tools: [ops.deploy]}}\n"
        "  limits:\n"
        "    - {scope: user+tool, tools: ['github.*'], rpm: 10}\n"
    )
    runner = CliRunner(env={"COLUMNS": "240"})
    base = ["policy", "check", "--config", str(tmp_path / "agentrt.yaml"), "--user", "ivan"]
    denied = runner.invoke(app, [*base, "--tenant", "interns", "--tool", "github.delete_repo"])
    assert denied.exit_code == 1, denied.output
    assert "tool call github.delete_repo" in denied.output
    assert "denied by rule 'no-deletes-for-interns'" in denied.output
    allowed = runner.invoke(app, [*base, "--tenant", "acme", "--tool", "github.search", "--json"])
    assert allowed.exit_code == 0, allowed.output
    explained = json.loads(allowed.output)
    assert (explained["operation"], explained["allowed"]) == ("tool", True)
    assert explained["limits"][0]["scope_key"] == "user=ivan|tool=github.search"
    gated = runner.invoke(app, [*base, "--tool", "ops.deploy"])
    assert gated.exit_code == 0, gated.output  # approval is not a refusal
    assert "approval: required" in gated.output
    neither = runner.invoke(app, base)
    assert neither.exit_code != 0
    assert "--tool toolkit.tool" in neither.output
