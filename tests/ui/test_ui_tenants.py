"""A tenant's dashboard key sees its own tenant only, on every page and API route, whatever it asks for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from ui_pages_support import (
    ACME_KEY,
    ADMIN_KEY,
    GLOBEX_KEY,
    OPERATOR_KEY,
    SOLO_KEY,
    Browser,
    Served,
    dashboard_served,
    server_config,
)

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.calls import Principal
from agentrt.store import AuditRecord, AuditTrail, UsageLedger, UsageRecord
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools import tool

GATED = [{"name": "payments-need-a-yes", "effect": "allow", "approval": "required", "match": {"tools": ["pay"]}}]


@tool
def pay(amount: int) -> str:
    """Pay someone."""
    return f"paid {amount}"


class Quiet(Agent[dict[str, Any]]):
    async def handle(self, activity: Activity, ctx: AgentContext[dict[str, Any]]) -> Any:
        return None


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
async def served(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    server = server_config(up, tmp_path)["server"]
    config = {"policies": {"rules": GATED, "budgets": [{"scope": "tenant", "period": "day", "max_cost": 9.0}]}}
    async with dashboard_served(up, tmp_path, server={**server, "ui": {"live_interval": "0.2s"}}, **config) as s:
        now = time.time()
        ledger, audit = s.rt.services.get(UsageLedger), s.rt.services.get(AuditTrail)
        for tenant, user in (("acme", "ann"), ("globex", "gus"), (None, "sam"), (None, "<script>alert(1)</script>")):
            for outcome in ("ok", "ProviderTimeout"):
                ledger.record(
                    UsageRecord(
                        ts=now - 60,
                        request_id=f"{tenant or user}-{outcome}",
                        user=user,
                        tenant=tenant,
                        api_key=f"{tenant or 'no'}-key",
                        model="gpt-test",
                        provider="oai",
                        operation="generate",
                        input_tokens=10,
                        output_tokens=5,
                        cost=0.01,
                        outcome=outcome,
                    )
                )
            audit.record(
                AuditRecord(
                    ts=now - 30,
                    request_id=f"{tenant or user}-denied",
                    user=user,
                    tenant=tenant,
                    model="gpt-test",
                    operation="generate",
                    decision="deny",
                    rule=f"{tenant or user}-secret-rule",
                    reason=f"{tenant or user} reason",
                )
            )
        await audit.flush()
        await ledger.flush()
        agents = s.rt.services.get(AgentRuntime)
        agents.register("quiet", Quiet)
        await agents.spawn("quiet", "globex-bot", owner=Principal(tenant="globex"))
        await agents.spawn("quiet", "acme-bot", owner=Principal(tenant="acme"))
        yield s


FOREIGN = [
    "/ui/api/usage?tenant=globex",
    "/ui/usage.csv?tenant=globex",
    "/ui/usage?tenant=globex",
    "/ui/usage?tenant=globex&by=user",
    "/ui/audit?tenant=globex",
    "/ui/policies?tenant=globex",
]


async def test_asking_for_another_tenant_is_refused_on_every_route(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(ACME_KEY)
        for path in FOREIGN:
            status, body, _ = await b.get(path)
            assert status == 403, path
            assert "globex-secret-rule" not in body
        status, body, _ = await b.post("/ui/policies/check", {"model": "gpt-test", "tenant": "globex"})
        assert status == 403
        for path in ("/ui/api/live", "/ui/events/live"):  # the process's rates: not one tenant's
            assert (await b.get(path))[0] == 403


async def test_pages_and_apis_without_filters_show_the_keys_own_tenant(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(ACME_KEY)
        for by in ("tenant", "user", "api_key", "model"):
            status, body, _ = await b.get(f"/ui/api/usage?period=today&by={by}")
            assert status == 200
            report = orjson.loads(body)
            assert report["filters"] == {"tenant": "acme"}
            assert report["totals"]["calls"] == 2
            assert "globex" not in body
            assert "gus" not in body
        _, csv_text, _ = await b.get("/ui/usage.csv?period=today&by=user")
        assert "ann" in csv_text
        assert "gus" not in csv_text
        for path in ("/ui", "/ui/usage?by=user", "/ui/models", "/ui/policies", "/ui/audit", "/ui/agents", "/ui/tools"):
            status, body, _ = await b.get(path)
            assert status == 200, path
            assert "globex" not in body, path
            assert "gus" not in body, path
        _, audit, _ = await b.get("/ui/audit")
        assert "acme-secret-rule" in audit
        _, models, _ = await b.get("/ui/models")
        assert "acme-ProviderTimeout" in models  # its own recent error is there
        assert "so this key does not see them" in models  # other tenants' calls are in the process's counts
        # Another tenant's request id finds neither its audit rows nor its ledger row.
        _, page, _ = await b.get("/ui/audit?request_id=globex-ok")
        assert 'id="no-ledger-row"' in page
        assert "globex" in page.split('id="a-request"', 1)[1][:80]  # only echoed back in the filter field
        _, page, _ = await b.get("/ui/audit?request_id=globex-denied")
        assert "globex-secret-rule" not in page


async def test_another_tenants_agent_is_a_404_and_only_admins_act(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(ACME_KEY)
        _, listing, _ = await b.get("/ui/agents")
        assert "acme-bot" in listing
        assert "globex-bot" not in listing
        assert (await b.get("/ui/agents/globex-bot"))[0] == 404
        status, body, _ = await b.get("/ui/agents/globex-bot/events")
        assert status == 404
        assert orjson.loads(body)["error"]["code"] == "agent_not_found"
        assert (await b.get("/ui/agents/acme-bot"))[0] == 200
        for action in ("terminate", "resume"):
            assert (await b.post(f"/ui/agents/acme-bot/{action}", {}))[0] == 403  # its own, but not an admin
            assert (await b.post(f"/ui/agents/globex-bot/{action}", {}))[0] == 403
    async with Browser(served.url) as b:
        await b.login(OPERATOR_KEY)  # no tenant, no user: sees every agent, acts on none
        _, listing, _ = await b.get("/ui/agents")
        assert "globex-bot" in listing
        assert "acme-bot" in listing
        assert (await b.post("/ui/agents/globex-bot/terminate", {}))[0] == 403
    assert served.rt.services.get(AgentRuntime).status("globex-bot").value != "terminated"


async def test_approvals_are_seen_and_decided_within_the_tenant(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(tool_calls=[("pay", {"amount": 3})]), Reply(text="ok"))
    turn = asyncio.create_task(served.rt.generate("gpt-test", "pay", tools=[pay], user="ann", tenant="acme"))
    async with Browser(served.url) as acme, Browser(served.url) as globex:
        await acme.login(ACME_KEY)
        await globex.login(GLOBEX_KEY)
        approval_id = None
        for _ in range(300):
            _, body, _ = await acme.get("/ui/approvals")
            if 'class="approval"' in body:
                approval_id = body.split('id="approval-', 1)[1].split('"', 1)[0]
                break
            await asyncio.sleep(0.02)
        assert approval_id is not None
        assert "needs an admin key or the <code>approvals</code> scope" in body  # acme's key may look, not decide
        status, _, _ = await acme.post(f"/ui/approvals/{approval_id}", {"decision": "approve"})
        assert status == 403
        _, theirs, _ = await globex.get("/ui/approvals")
        assert approval_id not in theirs
        status, _, _ = await globex.post(f"/ui/approvals/{approval_id}", {"decision": "approve"})
        assert status == 404  # as for an approval that does not exist
        assert not turn.done()
        served.rt.tools.reject(approval_id, "test over", by="test")
        await asyncio.wait_for(turn, 10)


async def test_a_key_with_a_user_and_no_tenant_sees_that_users_calls_only(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(SOLO_KEY)
        status, body, _ = await b.get("/ui/api/usage?period=today&by=user")
        assert status == 200
        assert {g["key"] for g in orjson.loads(body)["groups"]} == {"sam"}
        for path in ("/ui/api/usage?user=ann", "/ui/api/usage?tenant=acme", "/ui/audit?user=gus"):
            assert (await b.get(path))[0] == 403, path
        _, audit, _ = await b.get("/ui/audit")
        assert "sam-secret-rule" in audit
        assert "acme-secret-rule" not in audit


async def test_what_callers_chose_is_escaped_on_the_pages(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        for path in ("/ui/usage?period=today&by=user", "/ui/audit", "/ui/policies"):
            _, page, _ = await b.get(path)
            assert "<script>alert(1)</script>" not in page, path
        _, page, _ = await b.get("/ui/usage?period=today&by=user")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
