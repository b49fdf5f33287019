"""The dashboard's pages, JSON, CSV and event streams, served for real and read with a cookie-keeping client."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from ui_pages_support import ADMIN_KEY, GLOBEX_KEY, Browser, Served, dashboard_served, server_config

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime, AgentStatus
from agentrt.store import Store, UsageLedger, UsageRecord
from agentrt.store.usage_report import day_start
from agentrt.store.usage_rollup import roll_up_closed_days
from agentrt.testing import FakeUpstream, Reply
from agentrt.tools import tool

PAGES = ["/ui", "/ui/usage", "/ui/models", "/ui/policies", "/ui/audit", "/ui/agents", "/ui/tools"]
GATED = [{"name": "payments-need-a-yes", "effect": "allow", "approval": "required", "match": {"tools": ["pay"]}}]


@tool
def pay(amount: int) -> str:
    """Pay someone."""
    return f"paid {amount}"


class Echo(Agent[dict[str, Any]]):
    async def handle(self, activity: Activity, ctx: AgentContext[dict[str, Any]]) -> Any:
        payload = activity.payload or {}
        if "fail" in payload:
            raise RuntimeError("the handler failed: password=hunter2")
        ctx.state["last"] = payload
        return payload


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
async def served(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    config: dict[str, Any] = {
        "policies": {
            "rules": GATED,
            "budgets": [{"scope": "tenant", "period": "month", "max_cost": 5.0}],
            "limits": [{"scope": "user", "rpm": 100}],
        }
    }
    server = server_config(up, tmp_path)["server"]
    config["tools"] = {"shop": {"python": "ui_pages_support:refund", "approval": "required"}}
    async with dashboard_served(up, tmp_path, server={**server, "ui": {"live_interval": "0.1s"}}, **config) as s:
        s.rt.services.get(AgentRuntime).register("echo", Echo, restart={"max_restarts": 0, "backoff": 0})
        yield s


async def test_an_admin_sees_every_page(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        for path in PAGES:
            status, body, response = await b.get(path)
            assert status == 200, (path, body[:500])
            assert response.content_type == "text/html"
            assert 'href="#main"' in body
            assert 'id="main"' in body
            assert ADMIN_KEY not in body
        for asset in ("app.js", "app.css", "vendor/htmx/htmx.min.js", "vendor/uplot/uPlot.iife.min.js"):
            status, _, response = await b.get("/ui/static/" + asset)
            assert status == 200, asset
        _, page, _ = await b.get("/ui/policies?tenant=acme")
        budget = page.split('id="budgets"', 1)[1].split("</table>", 1)[0]
        assert '<tr class="budget"' in budget
        assert "<meter" in budget
        assert "$0.0000 of $5.00" in budget
        assert 'id="configured-budgets"' in page
        assert "user</th><td>100</td>" in page.split('id="limits"', 1)[1]
        assert (await b.get("/ui/static/../routes.py"))[0] == 404
        assert (await b.get("/ui/static/vendor/VERSIONS.md"))[0] == 200


async def test_the_openapi_document_has_the_json_api_and_not_the_pages(served: Served) -> None:
    async with aiohttp.ClientSession() as http, http.get(served.url + "/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert "/ui/api/usage" in paths
    assert "/ui/usage.csv" in paths
    assert "/ui/usage" not in paths
    assert "/ui/login" not in paths
    assert "/ui" not in paths


async def _record(served: Served, rows: list[UsageRecord]) -> None:
    ledger = served.rt.services.get(UsageLedger)
    for row in rows:
        ledger.record(row)
    await ledger.flush()


def _rows(now: float) -> list[UsageRecord]:
    today = day_start(now)
    rows = []
    for i, (days_back, tenant, user, model, cost) in enumerate(
        [
            (0, "acme", "ann", "gpt-test", 0.5),
            (0, "acme", "bob", "plain", 0.25),
            (1, "acme", "ann", "gpt-test", 1.0),
            (2, "globex", "gus", "gpt-test", 2.0),
            (2, "acme", "=cmd", "plain", 0.125),
            (0, "globex", "gus", "plain", 4.0),
        ]
    ):
        rows.append(
            UsageRecord(
                ts=today - days_back * 86400 + 60 + i,
                request_id=f"seeded-{i}",
                user=user,
                tenant=tenant,
                api_key="k",
                model=model,
                provider="oai",
                operation="generate",
                input_tokens=100 * (i + 1),
                output_tokens=10 * (i + 1),
                cost=cost,
            )
        )
    return rows


async def test_usage_json_and_csv_sum_a_known_ledger(served: Served) -> None:
    now = time.time()
    await _record(served, _rows(now))
    await roll_up_closed_days(served.rt.services.get(Store), now=now + 86400)  # yesterday and before: rolled
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        status, body, _ = await b.get("/ui/api/usage?period=7d&by=tenant")
        assert status == 200, body
        report = orjson.loads(body)
        groups = {g["key"]: (g["calls"], round(g["cost"], 6)) for g in report["groups"]}
        assert groups == {"acme": (4, 1.875), "globex": (2, 6.0)}
        assert [g["key"] for g in report["groups"]] == ["globex", "acme"]  # the costliest first
        assert report["totals"]["input_tokens"] == 100 * (1 + 2 + 3 + 4 + 5 + 6)
        assert len(report["buckets"]) == 7
        # top=1: every group's totals, the points of the costliest group, and the rest summed per bucket.
        status, body, _ = await b.get("/ui/api/usage?period=7d&by=user&top=1")
        top = orjson.loads(body)
        assert len(top["groups"]) == 4
        assert {p["key"] for p in top["points"]} == {"gus"}
        assert sum(p["cost"] for p in top["points"]) == pytest.approx(6.0)
        assert sum(p["cost"] for p in top["other"]) == pytest.approx(1.875)
        assert (await b.get("/ui/api/usage?top=-1"))[0] == 400
        status, body, _ = await b.get("/ui/api/usage?period=today&by=user&tenant=acme")
        assert {g["key"]: g["calls"] for g in orjson.loads(body)["groups"]} == {"ann": 1, "bob": 1}
        status, body, response = await b.get("/ui/usage.csv?period=7d&by=user&granularity=day")
        assert status == 200
        assert response.headers["Content-Disposition"] == 'attachment; filename="usage-7d-day-by-user.csv"'
        table = list(csv.reader(io.StringIO(body)))
        assert table[0] == [
            "bucket_start_utc",
            "user",
            "calls",
            "failures",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "unpriced_calls",
        ]
        assert sum(int(r[2]) for r in table[1:]) == 6
        assert "'=cmd" in {r[1] for r in table[1:]}  # a formula-looking name is text to a spreadsheet
        assert sum(float(r[6]) for r in table[1:]) == pytest.approx(7.875)
        status, body, _ = await b.get("/ui/usage?period=30d&by=model")
        assert status == 200
        chart = orjson.loads(body.split('id="usage-data">', 1)[1].split("</script>", 1)[0])
        assert sum(chart["series"]["gpt-test"]) == pytest.approx(3.5)
        assert sum(chart["tokens"]["plain"]) == (200 + 20) + (500 + 50) + (600 + 60)  # rows 1, 4 and 5
        assert "gpt-test" in body
        assert "$3.5000" in body
        status, body, _ = await b.get("/ui/api/usage?period=90d&granularity=hour")
        assert status == 400
        assert "7 days at most" in body
        status, body, _ = await b.get("/ui/usage?period=forever")
        assert status == 400
        assert "period must be one of" in body


async def test_the_overview_shows_todays_and_the_months_cost(served: Served) -> None:
    now = time.time()
    await _record(served, _rows(now))
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        _, body, _ = await b.get("/ui")
        assert '<p class="big" id="cost-today">$4.7500</p>' in body
        assert 'id="config-version">1<' in body
    async with Browser(served.url) as b:
        await b.login(GLOBEX_KEY)
        _, body, _ = await b.get("/ui")
        assert '<p class="big" id="cost-today">$4.0000</p>' in body  # its own tenant's only


async def _events(response: aiohttp.ClientResponse, count: int, timeout: float = 10.0) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    kind = "message"

    async def read() -> None:
        nonlocal kind
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, orjson.loads(line[6:])))
                if len(events) >= count:
                    return

    await asyncio.wait_for(read(), timeout)
    return events


async def _until(response: aiohttp.ClientResponse, kind: str, limit: int = 20) -> list[tuple[str, Any]]:
    """Events up to and including the first of ``kind``."""
    seen: list[tuple[str, Any]] = []
    while len(seen) < limit:
        seen.extend(await _events(response, 1))
        if seen[-1][0] == kind:
            return seen
    raise AssertionError(f"no {kind!r} event among {seen}")


async def test_the_live_stream_counts_calls_as_they_happen(served: Served, up: FakeUpstream) -> None:
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        async with b.session.get(served.url + "/ui/events/live") as response:
            assert response.status == 200
            assert response.content_type == "text/event-stream"
            for _ in range(5):
                up.script(Reply(text="hi"))
                await served.rt.generate("gpt-test", "hello", user="ann", tenant="acme")
            seen = 0
            for _ in range(100):
                ((kind, point),) = await _events(response, 1)
                assert kind == "point"
                seen += point["calls"]
                if point["calls"]:
                    assert point["calls_per_s"] > 0
                    assert point["p50"] is not None
                if seen >= 5:
                    break
            assert seen == 5
        _status, body, _ = await b.get("/ui/api/live")
        live = orjson.loads(body)
        assert live["window"]["calls"] == 5
        assert live["window"]["p50"] is not None


async def test_an_agents_events_stream_and_the_admin_terminates_and_resumes_it(served: Served) -> None:
    agents = served.rt.services.get(AgentRuntime)
    await agents.spawn("echo", "helper-1", state={})
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        status, body, _ = await b.get("/ui/agents")
        assert status == 200
        assert "helper-1" in body
        async with b.session.get(served.url + "/ui/agents/helper-1/events") as response:
            assert response.status == 200
            await agents.tell("helper-1", {"n": 1})
            kinds = [kind for kind, _ in await _until(response, "result")]
            assert "status" in kinds
            await agents.tell("helper-1", {"fail": "x"})
            errors = [data for kind, data in await _until(response, "error") if kind == "error"]
            assert errors[0]["error"]["type"] == "RuntimeError"
            assert "hunter2" not in orjson.dumps(errors).decode()  # the exception's text stays in the log
        for _ in range(100):
            if agents.status("helper-1") is AgentStatus.FAILED:
                break
            await asyncio.sleep(0.02)
        assert agents.status("helper-1") is AgentStatus.FAILED
        _, page, _ = await b.get("/ui/agents/helper-1")
        assert 'id="agent-resume"' in page
        status, _, response = await b.post("/ui/agents/helper-1/resume", {})
        assert status == 303
        assert response.headers["Location"] == "/ui/agents/helper-1?done=resumed"
        await agents.wait_idle(5)
        status, _, _ = await b.post("/ui/agents/helper-1/terminate", {})
        assert status == 303
        assert agents.status("helper-1") is AgentStatus.TERMINATED
        status, body, _ = await b.post("/ui/agents/helper-1/resume", {})
        assert status == 409
        status, body, _ = await b.post("/ui/agents/ghost/terminate", {})
        assert status == 404


async def test_a_parked_tool_call_is_approved_from_the_tools_page(served: Served, up: FakeUpstream) -> None:
    up.script(Reply(tool_calls=[("pay", {"amount": 7})]), Reply(text="Paid."))
    turn = asyncio.create_task(served.rt.generate("gpt-test", "pay 7", tools=[pay], user="gus", tenant="globex"))
    async with Browser(served.url) as b:
        await b.login(GLOBEX_KEY)
        approval_id = None
        for _ in range(300):
            _, body, _ = await b.get("/ui/approvals")
            if 'class="approval"' in body:
                approval_id = body.split('id="approval-', 1)[1].split('"', 1)[0]
                break
            await asyncio.sleep(0.02)
        assert approval_id is not None, "the tool call was never parked"
        _, page, _ = await b.get("/ui/tools")
        assert f'id="approve-{approval_id}"' in page
        assert '"amount": 7' in page
        status, _, response = await b.post(f"/ui/approvals/{approval_id}", {"decision": "approve"})
        assert status == 303
        assert response.headers["Location"] == "/ui/tools?done=approved"
        completion = await asyncio.wait_for(turn, 10)
        assert completion.text == "Paid."
        status, _, _ = await b.post(f"/ui/approvals/{approval_id}", {"decision": "approve"})
        assert status == 404  # decided already


async def test_the_usage_page_lists_the_costliest_groups_and_sums_the_rest(served: Served) -> None:
    now = time.time()
    rows = [
        UsageRecord(
            ts=now - 5,
            user=f"user-{i:02d}",
            tenant="acme",
            model="gpt-test",
            provider="oai",
            operation="generate",
            input_tokens=1,
            output_tokens=1,
            cost=float(i),
        )
        for i in range(60)
    ]
    await _record(served, rows)
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        _, page, _ = await b.get("/ui/usage?period=today&by=user")
        listed = page.split('id="usage-table"', 1)[1]
        assert listed.count('<th scope="row">') == 51
        assert "user-59" in listed  # the costliest
        assert "user-09" not in listed  # among the 10 cheapest, summed in the last row
        assert "the 10 other users (in the CSV)" in listed
        assert "$45.0000" in listed  # 0 + 1 + ... + 9
        _, csv_text, _ = await b.get("/ui/usage.csv?period=today&by=user")
        assert csv_text.count("\n") == 61


async def test_the_policy_check_says_when_a_toolkit_makes_each_call_wait(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        status, page, _ = await b.post("/ui/policies/check", {"tool": "shop.refund", "tenant": "acme"})
        assert status == 200
        result = html.unescape(page.split('id="policy-check-result"', 1)[1])
        assert "Each call waits for a person's approval (the toolkit's approval: required)" in result
        status, page, _ = await b.post("/ui/policies/check", {"tool": "shop.nothing"})
        assert status == 400
        assert "no tool &#39;shop.nothing&#39;" in page
        status, page, _ = await b.post("/ui/policies/check", {"model": "gpt-test", "tool": "shop.refund"})
        assert status == 400


async def test_an_unknown_dashboard_path_is_a_404_page(served: Served) -> None:
    async with Browser(served.url) as b:
        assert (await b.get("/ui/nowhere"))[0] == 303  # to the login first, as every page
        await b.login(ADMIN_KEY)
        status, page, response = await b.get("/ui/nowhere")
        assert status == 404
        assert response.content_type == "text/html"
        assert "no dashboard page" in page
        assert (await b.get("/ui/usage"))[0] == 200  # the real pages still win
        status, _, response = await b.get("/ui/")
        assert status == 303
        assert response.headers["Location"] == "/ui"
