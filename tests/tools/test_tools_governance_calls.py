"""Governed tool calls in the tool loop: denials told to the model, audit rows, metrics, timeouts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from governance_support import fake_config

from agentrt import Runtime
from agentrt.store import AuditRecord, AuditTrail
from agentrt.store.ledger import UsageLedger
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools import tool
from agentrt.types import Completed

NO_DEPLOYS = {
    "name": "no-deploys-for-interns",
    "effect": "deny",
    "match": {"tenants": ["interns"], "tools": ["ops.deploy*"]},
    "reason": "interns do not deploy",
}


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


async def _rows(rt: Runtime, **filters: str) -> list[AuditRecord]:
    trail = rt.services.get(AuditTrail)
    await trail.flush()
    return await trail.query(**filters)  # type: ignore[arg-type]


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


async def test_a_denied_tool_call_is_told_to_the_model_and_the_loop_goes_on(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(
        Reply(tool_calls=[("ops__deploy", {"target": "prod", "token": "t0k"}), ("ops__status", {})]),
        Reply(text="I may not deploy; status is green."),
    )
    async with Runtime.open(fake_config(up, tmp_path, policies={"rules": [NO_DEPLOYS]}), plugins=False) as rt:
        c = await rt.generate("gpt", "deploy prod", tools=["ops.*"], user="ivan", tenant="interns")
        deploy_rows = await _rows(rt, tool="ops.deploy")
        status_rows = await _rows(rt, tool="ops.status")
    assert c.text == "I may not deploy; status is green."
    answers = {m["tool_call_id"]: m["content"] for m in up.requests[1].body["messages"] if m["role"] == "tool"}
    denied, status = answers.values()
    assert denied.startswith("error: rule 'no-deploys-for-interns' denies the tool call 'ops.deploy'")
    assert "interns do not deploy" in denied
    assert status == "green"
    (deny,) = deploy_rows
    assert (deny.decision, deny.outcome, deny.rule, deny.tenant) == (
        "deny",
        "denied",
        "no-deploys-for-interns",
        "interns",
    )
    assert status_rows[0].decision == "allow"


async def test_each_tool_call_has_an_audit_row_linked_to_the_model_calls_ledger_row(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(
        Reply(tool_calls=[("ops__deploy", {"target": "prod", "token": "t0k-very-secret"})], usage=(10, 5)),
        Reply(text="Deployed.", usage=(20, 3)),
    )
    async with Runtime.open(fake_config(up, tmp_path), plugins=False) as rt:
        c = await rt.generate("gpt", "deploy prod", tools=["ops.deploy"], user="alice", tenant="acme")
        (row,) = await _rows(rt, tool="ops.deploy")
        model_rows = await _rows(rt, request_id=c.request_id)
        await rt.services.get(UsageLedger).flush()
        ledger = await rt.services.get(AuditTrail).store.fetchall(
            "SELECT request_id, model FROM agentrt_usage WHERE request_id = ?", [c.request_id]
        )
    assert (row.decision, row.outcome, row.operation, row.user, row.tenant) == ("allow", "ok", "tool", "alice", "acme")
    assert row.request_id == c.request_id  # the model call that asked for it
    assert {r.operation for r in model_rows} == {"generate", "tool"}  # `agentrt audit -r <id>` shows both
    assert ledger
    assert all(model == "gpt" for _, model in ledger)
    detail = json.loads(row.detail or "{}")
    assert detail["arguments"] == {"target": "prod", "token": "[REDACTED]"}
    assert "t0k-very-secret" not in (row.detail or "")
    assert row.duration_ms is not None


async def test_a_python_tool_of_one_call_is_governed_by_its_bare_name(up: FakeUpstream, tmp_path: Path) -> None:
    rule = {"name": "no-shouting", "effect": "deny", "match": {"users": ["bob"], "tools": ["shout"]}}
    up.script(Reply(tool_calls=[("shout", {"text": "hi"})]), Reply(text="ok"))
    up.script(Reply(tool_calls=[("shout", {"text": "hi"})]), Reply(text="no"))
    async with Runtime.open(fake_config(up, tmp_path, policies={"rules": [rule]}), plugins=False) as rt:
        await rt.generate("gpt", "shout hi", tools=[shout], user="alice")
        await rt.generate("gpt", "shout hi", tools=[shout], user="bob")
        rows = await _rows(rt, tool="shout")
        metrics = rt.metrics.render().decode()
    assert up.requests[1].body["messages"][-1]["content"] == "HI"
    assert "denies the tool call 'shout'" in up.requests[3].body["messages"][-1]["content"]
    assert sorted((r.user, r.decision) for r in rows) == [("alice", "allow"), ("bob", "deny")]
    assert 'agentrt_tool_calls_total{decision="allow",outcome="ok",tool="shout"} 1.0' in metrics
    assert 'agentrt_tool_calls_total{decision="deny",outcome="denied",tool="shout"} 1.0' in metrics
    assert 'agentrt_tool_call_seconds_count{tool="shout"} 2.0' in metrics


async def test_a_tool_over_its_timeout_is_stopped_and_the_model_told(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("ops__slow", {"seconds": 30})]), Reply(text="it was slow"))
    config = fake_config(up, tmp_path, ops={"tools": {"slow": {"timeout": "0.1s"}}})
    async with Runtime.open(config, plugins=False) as rt:
        c = await rt.generate("gpt", "be slow", tools=["ops.slow"], user="alice")
        (row,) = await _rows(rt, tool="ops.slow")
    assert c.text == "it was slow"
    assert "did not answer within 0.1s" in up.requests[1].body["messages"][-1]["content"]
    assert (row.decision, row.outcome) == ("allow", "timeout")
    assert row.duration_ms is not None
    assert row.duration_ms < 5000


async def test_a_tool_that_raises_is_audited_as_failed_and_told_to_the_model(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("ops__explode", {"order": "A-1"})]), Reply(text="sorry"))
    async with Runtime.open(fake_config(up, tmp_path), plugins=False) as rt:
        await rt.generate("gpt", "check A-1", tools=["ops.explode"], user="alice")
        (row,) = await _rows(rt, tool="ops.explode")
    assert "database down while reading A-1" in up.requests[1].body["messages"][-1]["content"]
    assert (row.decision, row.outcome) == ("allow", "failed")


async def test_tool_rpm_refusals_reach_the_model_as_errors(up: FakeUpstream, tmp_path: Path) -> None:
    calls = [("ops__status", {}) for _ in range(3)]
    up.script(Reply(tool_calls=calls), Reply(text="done"))
    limits = [{"scope": "user", "tools": ["ops.*"], "rpm": 2}]
    async with Runtime.open(fake_config(up, tmp_path, policies={"limits": limits}), plugins=False) as rt:
        await rt.generate("gpt", "status x3", tools=["ops.status"], user="alice")
        rows = await _rows(rt, tool="ops.status")
    answers = [m["content"] for m in up.requests[1].body["messages"] if m["role"] == "tool"]
    assert sorted(answers)[0].startswith("error: the tool call 'ops.status' was refused: rate limit")
    assert answers.count("green") == 2
    assert sorted(r.decision for r in rows) == ["allow", "allow", "deny"]


async def test_the_streamed_tool_loop_is_governed_too(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(tool_calls=[("ops__deploy", {"target": "prod", "token": "t"})]), Reply(text="Not allowed."))
    async with Runtime.open(fake_config(up, tmp_path, policies={"rules": [NO_DEPLOYS]}), plugins=False) as rt:
        events = [e async for e in rt.stream("gpt", "deploy", tools=["ops.*"], user="ivan", tenant="interns")]
        (row,) = await _rows(rt, tool="ops.deploy")
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.completion.text == "Not allowed."
    assert "denies the tool call 'ops.deploy'" in up.requests[1].body["messages"][-1]["content"]
    assert (row.decision, row.request_id) == ("deny", final.completion.request_id)


async def test_a_call_refused_for_its_arguments_costs_nothing_and_a_run_one_is_charged(
    up: FakeUpstream, tmp_path: Path
) -> None:
    budgets = [{"scope": "user", "period": "day", "max_cost": 0.1}]
    config = fake_config(up, tmp_path, ops={"cost": 0.1}, policies={"budgets": budgets})
    async with Runtime.open(config, plugins=False) as rt:
        bad = await rt.tools.call("ops.deploy", {"token": "t"}, user="alice")  # no target: never runs
        good = await rt.tools.call("ops.deploy", {"target": "prod", "token": "t"}, user="alice")
        spent = await rt.tools.call("ops.status", user="alice")
        rows = await _rows(rt, tool="ops.deploy")
    assert bad.is_error
    assert "did not validate" in bad.text
    assert good.text == "deployed to prod"
    assert spent.is_error
    assert "budget" in spent.text
    outcomes = sorted((r.outcome or "", json.loads(r.detail or "{}").get("cost")) for r in rows)
    assert outcomes == [("bad_arguments", 0.0), ("ok", 0.1)]


async def test_a_policy_backend_that_fails_refuses_the_tool_call_and_the_loop_goes_on(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Reply(tool_calls=[("ops__status", {})]), Reply(text="could not check"))
    limits = [{"scope": "user", "tools": ["ops.*"], "rpm": 100}]
    async with Runtime.open(fake_config(up, tmp_path, policies={"limits": limits}), plugins=False) as rt:
        engine = rt.tools.governor.policy

        async def broken(*args: object, **kwargs: object) -> object:
            raise ConnectionError("redis is down")

        engine.backend.reserve = broken  # the counters cannot be reached (a backend down)
        c = await rt.generate("gpt", "status?", tools=["ops.status"], user="alice")
        (row,) = await _rows(rt, tool="ops.status")
    assert c.text == "could not check"
    assert "could not be checked against the policy" in up.requests[1].body["messages"][-1]["content"]
    assert (row.decision, row.outcome) == ("deny", "policy_unavailable")
