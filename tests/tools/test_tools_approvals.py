"""Approvals: a tool call that needs a yes is parked, then approved, rejected or timed out; all audited."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from governance_support import ops_config

from agentrt import Runtime
from agentrt.store import AuditRecord, AuditTrail
from agentrt.tools._approvals import ApprovalEvent, ApprovalRequest, Approvals, UnknownApproval


def _request(approvals: Approvals, tenant: str | None = "acme", user: str = "alice") -> ApprovalRequest:
    return ApprovalRequest(
        id=approvals.new_id(), tool="ops.deploy", arguments={"target": "prod"}, tenant=tenant, user=user
    )


async def _first_parked(approvals: Approvals) -> ApprovalRequest:
    for _ in range(500):
        pending = approvals.pending()
        if pending:
            return pending[0]
        await asyncio.sleep(0.005)
    raise AssertionError("no tool call was parked for approval")


async def test_a_parked_request_waits_until_approved_and_subscribers_see_both_events() -> None:
    approvals = Approvals(timeout=5)
    events: list[ApprovalEvent] = []
    subscription = approvals.subscribe()

    async def follow() -> None:
        async for event in subscription:
            events.append(event)

    follower = asyncio.create_task(follow())
    waiting = asyncio.create_task(approvals.request(_request(approvals)))
    parked = await _first_parked(approvals)
    assert not waiting.done()
    approvals.approve(parked.id, by="bob")
    decision = await waiting
    assert (decision.approved, decision.by, decision.label) == (True, "bob", "approved")
    assert approvals.pending() == []
    approvals.close()
    await follower
    assert [event.kind for event in events] == ["requested", "approved"]
    assert events[1].by == "bob"


async def test_a_rejection_carries_its_reason_and_a_decided_id_is_unknown_after() -> None:
    approvals = Approvals(timeout=5)
    waiting = asyncio.create_task(approvals.request(_request(approvals)))
    parked = await _first_parked(approvals)
    approvals.reject(parked.id, "not on a Friday", by="carol")
    decision = await waiting
    assert (decision.approved, decision.reason, decision.label) == (False, "not on a Friday", "rejected")
    with pytest.raises(UnknownApproval, match="no pending approval"):
        approvals.approve(parked.id)


async def test_nobody_deciding_in_time_is_a_rejection_marked_timed_out() -> None:
    approvals = Approvals(timeout=5)
    decision = await approvals.request(_request(approvals), timeout=0.05)
    assert (decision.approved, decision.timed_out, decision.label) == (False, True, "timeout")
    assert approvals.pending() == []


async def test_another_tenants_approval_is_as_unknown_as_a_missing_one() -> None:
    approvals = Approvals(timeout=5)
    waiting = asyncio.create_task(approvals.request(_request(approvals, tenant="acme")))
    parked = await _first_parked(approvals)
    assert approvals.pending(tenant="globex", all_tenants=False) == []
    with pytest.raises(UnknownApproval):
        approvals.approve(parked.id, tenant="globex", all_tenants=False)
    assert approvals.pending(tenant="acme", all_tenants=False) == [parked]
    approvals.approve(parked.id, tenant="acme", all_tenants=False)
    assert (await waiting).approved


async def test_closing_rejects_every_parked_call_and_later_requests_at_once() -> None:
    approvals = Approvals(timeout=5)
    waiting = [asyncio.create_task(approvals.request(_request(approvals))) for _ in range(3)]
    await _first_parked(approvals)
    await asyncio.sleep(0)
    assert approvals.close() == 3
    for decision in await asyncio.gather(*waiting):
        assert (decision.approved, decision.reason) == (False, "runtime stopping")
    late = await approvals.request(_request(approvals))
    assert (late.approved, late.reason) == (False, "runtime stopping")


async def test_a_cancelled_caller_withdraws_its_request() -> None:
    approvals = Approvals(timeout=5)
    waiting = asyncio.create_task(approvals.request(_request(approvals)))
    await _first_parked(approvals)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert approvals.pending() == []


# --- through the runtime: rt.tools -------------------------------------------------------------------


async def _audit_rows(rt: Runtime, tool: str) -> list[AuditRecord]:
    trail = rt.services.get(AuditTrail)
    await trail.flush()
    return await trail.query(tool=tool)


async def test_approve_in_python_runs_the_tool_and_the_audit_row_names_the_approver(tmp_path: Path) -> None:
    config = ops_config(tmp_path, ops={"tools": {"deploy": {"approval": "required"}}})
    async with Runtime.open(config) as rt:
        events = rt.tools.subscribe()
        call = asyncio.create_task(
            rt.tools.call("ops.deploy", {"target": "prod", "token": "s3cr3t-token"}, user="alice", tenant="acme")
        )
        requested = await anext(events)
        assert requested.kind == "requested"
        parked = requested.request
        assert parked.arguments == {"target": "prod", "token": "[REDACTED]"}  # approvers never see the secret
        assert rt.tools.pending() == [parked]
        assert rt.tools.pending(tenant="globex") == []
        assert not call.done()
        rt.tools.approve(parked.id, by="bob")
        output = await call
        assert (output.text, output.is_error) == ("deployed to prod", False)
        (row,) = await _audit_rows(rt, "ops.deploy")
    assert (row.decision, row.outcome, row.operation) == ("approved", "ok", "tool")
    assert (row.user, row.tenant) == ("alice", "acme")
    detail = json.loads(row.detail or "{}")
    assert detail["approved_by"] == "bob"
    assert detail["approval_id"] == parked.id
    assert detail["arguments"] == {"target": "prod", "token": "[REDACTED]"}
    assert row.duration_ms is not None
    assert row.duration_ms > 0


async def test_reject_in_python_returns_the_reason_as_the_tools_error(tmp_path: Path) -> None:
    rules = [
        {"name": "deploys-need-a-yes", "effect": "allow", "approval": "required", "match": {"tools": ["ops.deploy"]}}
    ]
    config = ops_config(tmp_path, policies={"rules": rules})
    async with Runtime.open(config) as rt:
        call = asyncio.create_task(rt.tools.call("ops.deploy", {"target": "prod", "token": "t"}, user="alice"))
        parked = await _first_parked(rt.tools.governor.approvals)
        assert parked.rule == "deploys-need-a-yes"
        rt.tools.reject(parked.id, "change freeze", by="carol")
        output = await call
        assert output.is_error
        assert "rejected by carol: change freeze" in output.text
        (row,) = await _audit_rows(rt, "ops.deploy")
        status = await rt.tools.call("ops.status", user="alice")  # the rule matches deploy only
    assert (row.decision, row.outcome, row.rule) == ("rejected", "rejected", "deploys-need-a-yes")
    assert json.loads(row.detail or "{}")["decided_by"] == "carol"
    assert status.text == "green"


async def test_an_approval_that_never_comes_times_out_as_a_rejection(tmp_path: Path) -> None:
    config = ops_config(tmp_path, ops={"approval": "required"}, policies={"approval_timeout": "0.1s"})
    async with Runtime.open(config) as rt:
        output = await rt.tools.call("ops.status", user="alice")
        (row,) = await _audit_rows(rt, "ops.status")
    assert output.is_error
    assert "not approved in time" in output.text
    assert (row.decision, row.outcome) == ("timeout", "timeout")


async def test_a_stopping_runtime_rejects_the_calls_that_wait(tmp_path: Path) -> None:
    config = ops_config(tmp_path, ops={"approval": "required"})
    async with Runtime.open(config) as rt:
        call = asyncio.create_task(rt.tools.call("ops.status", user="alice"))
        await _first_parked(rt.tools.governor.approvals)
    output = await call
    assert output.is_error
    assert "runtime stopping" in output.text


async def test_agentrt_audit_shows_tool_rows_and_filters_them(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agentrt.cli._app import app

    config = ops_config(tmp_path, ops={"approval": "required"}, policies={"approval_timeout": "0.05s"})
    async with Runtime.open(config) as rt:
        await rt.tools.call("ops.status", user="alice", request_id="req-7")
    (tmp_path / "agentrt.yaml").write_text(f"store:\n  url: sqlite:///{tmp_path / 'agentrt.db'}\n")
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["audit", "--config", str(tmp_path / "agentrt.yaml"), "--json", "--tool", "ops.status", "-d", "timeout"],
    )
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert (row["tool"], row["decision"], row["outcome"], row["request_id"]) == (
        "ops.status",
        "timeout",
        "timeout",
        "req-7",
    )
    wide = CliRunner(env={"COLUMNS": "240"})
    table = await asyncio.to_thread(wide.invoke, app, ["audit", "--config", str(tmp_path / "agentrt.yaml")])
    assert "ops.status" in table.output


async def test_a_reload_changes_which_tools_need_approval_and_how_long_they_wait(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "agentrt.yaml"
    config = ops_config(tmp_path)
    path.write_text(yaml.safe_dump(config))
    async with Runtime.open(path) as rt:
        assert (await rt.tools.call("ops.status", user="alice")).text == "green"  # no approval yet
        config["tools"]["ops"]["tools"] = {"status": {"approval": "required"}}
        config["policies"] = {"approval_timeout": "0.05s"}
        path.write_text(yaml.safe_dump(config))
        result = await rt.reload()
        assert result.applied, result
        output = await rt.tools.call("ops.status", user="alice")
    assert output.is_error
    assert "not approved in time" in output.text


async def test_arguments_the_log_redaction_marks_are_hidden_in_the_audit_row_too(tmp_path: Path) -> None:
    config = ops_config(tmp_path, logging={"console": {"format": "off"}, "redact": ["target"]})
    async with Runtime.open(config) as rt:
        await rt.tools.call("ops.deploy", {"target": "prod-db", "token": "sk-live-0123456789abcdefghij"}, user="al")
        (row,) = await _audit_rows(rt, "ops.deploy")
    assert json.loads(row.detail or "{}")["arguments"] == {"target": "[REDACTED]", "token": "[REDACTED]"}
    assert "prod-db" not in (row.detail or "")


async def test_the_pending_approvals_gauge_counts_the_parked_calls(tmp_path: Path) -> None:
    async with Runtime.open(ops_config(tmp_path, ops={"approval": "required"})) as rt:
        calls = [asyncio.create_task(rt.tools.call("ops.status", user="alice")) for _ in range(2)]
        for _ in range(400):
            if len(rt.tools.pending()) == 2:
                break
            await asyncio.sleep(0.005)
        parked = rt.metrics.render().decode()
        for request in rt.tools.pending():
            rt.tools.approve(request.id)
        await asyncio.gather(*calls)
        after = rt.metrics.render().decode()
    assert "agentrt_tool_approvals_pending 2.0" in parked
    assert "agentrt_tool_approvals_pending 0.0" in after
    assert 'agentrt_tool_calls_total{decision="approved",outcome="ok",tool="ops.status"} 2.0' in after


async def test_a_decided_request_leaves_the_pending_list_at_once() -> None:
    counts: list[int] = []
    approvals = Approvals(timeout=5, on_change=counts.append)
    waiting = [asyncio.create_task(approvals.request(_request(approvals))) for _ in range(2)]
    await _first_parked(approvals)
    await asyncio.sleep(0)
    first, second = approvals.pending()
    approvals.approve(first.id)
    assert approvals.pending() == [second]  # before the parked caller has even woken up
    assert counts[-1] == 1
    approvals.reject(second.id, "no")
    assert approvals.pending() == []
    assert counts[-1] == 0
    await asyncio.gather(*waiting)
