"""A tenant's key in a real browser sees its own tenant only: on the pages, and at URLs typed by hand."""

from __future__ import annotations

import concurrent.futures

import pytest
from playwright.sync_api import Page, expect
from ui_support import (
    ACME_KEY,
    ADMIN_KEY,
    GLOBEX_KEY,
    TOOL_MODEL,
    ConsoleWatch,
    ServedDashboard,
    log_in,
    screenshot,
    wait_until,
)

from agentrt.testing import FakeUpstream, Reply


@pytest.fixture(scope="module", autouse=True)
def two_tenants(dashboard: ServedDashboard) -> None:
    """Calls and an agent of each tenant."""
    dashboard.chat(ACME_KEY, "acme calling")
    dashboard.chat(GLOBEX_KEY, "globex calling")
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "acme-own-agent", "state": {}})
    dashboard.api("POST", "/v1/agents", GLOBEX_KEY, {"type": "clerk", "id": "globex-secret-agent", "state": {}})


def test_the_usage_page_grouped_by_tenant_shows_only_the_keys_tenant(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    log_in(page, dashboard.url, ACME_KEY)
    expect(page.locator("#who")).to_contain_text("tenant acme")
    page.click("#nav-usage")
    page.select_option("#by", "tenant")
    page.click("#usage-apply")
    rows = page.locator("#usage-table tbody th[scope=row]")
    expect(rows).to_have_text(["acme"])
    expect(page.locator("#f-tenant")).to_have_attribute("readonly", "")
    expect(page.locator("body")).not_to_contain_text("globex")
    screenshot(page, "usage-tenant-acme")
    assert console.take() == []


def test_an_admin_sees_both_tenants_on_the_same_page(page: Page, dashboard: ServedDashboard) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + "/ui/usage?by=tenant&period=today")
    labels = page.locator("#usage-table tbody th[scope=row]").all_text_contents()
    assert {"acme", "globex"} <= set(labels)


def test_the_agents_page_lists_only_the_tenants_agents(page: Page, dashboard: ServedDashboard) -> None:
    log_in(page, dashboard.url, ACME_KEY)
    page.click("#nav-agents")
    table = page.locator("#agents-table")
    expect(table).to_contain_text("acme-own-agent")
    expect(table).not_to_contain_text("globex-secret-agent")


@pytest.mark.parametrize(
    "path",
    [
        "/ui/agents/globex-secret-agent",
        "/ui/usage?tenant=globex",
        "/ui/audit?tenant=globex",
        "/ui/policies?tenant=globex",
    ],
)
def test_another_tenants_page_typed_by_hand_is_refused(page: Page, dashboard: ServedDashboard, path: str) -> None:
    log_in(page, dashboard.url, ACME_KEY)
    response = page.goto(dashboard.url + path)
    assert response is not None
    assert response.status in (403, 404)
    expect(page.locator("#error-message")).to_be_visible()
    # Only the error: no table of another tenant's rows, no agent's facts or state.
    expect(page.locator("main table")).to_have_count(0)
    expect(page.locator("#agent-facts, #agent-state")).to_have_count(0)


@pytest.mark.parametrize(
    "path",
    [
        "/ui/api/usage?tenant=globex",
        "/ui/usage.csv?tenant=globex",
        "/ui/agents/globex-secret-agent/events",
    ],
)
def test_another_tenants_data_urls_are_refused(page: Page, dashboard: ServedDashboard, path: str) -> None:
    log_in(page, dashboard.url, ACME_KEY)
    response = page.request.get(dashboard.url + path, max_redirects=0)
    assert response.status in (403, 404)
    assert "globex-secret-agent" not in response.text() or response.status == 404


def test_the_json_usage_of_a_tenant_key_holds_its_tenant_only(page: Page, dashboard: ServedDashboard) -> None:
    log_in(page, dashboard.url, ACME_KEY)
    response = page.request.get(dashboard.url + "/ui/api/usage?by=tenant&period=today")
    assert response.status == 200
    assert "globex" not in response.text()
    assert "acme" in response.text()


def test_another_tenants_pending_tool_call_is_not_shown(
    page: Page, dashboard: ServedDashboard, upstream: FakeUpstream
) -> None:
    upstream.script(
        Reply(tool_calls=[("bank__transfer", {"amount": 7, "to": "gina"})]), Reply(text="ok"), model=TOOL_MODEL
    )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    body = {"payload": {"say": "send gina 7"}, "timeout": 60}
    answer = pool.submit(dashboard.api, "POST", "/v1/agents/globex-secret-agent/ask", GLOBEX_KEY, body, timeout=70)
    pool.shutdown(wait=False)
    try:
        pending = wait_until(lambda: dashboard.api("GET", "/v1/approvals", ADMIN_KEY)["data"], what="the parked call")
        log_in(page, dashboard.url, ACME_KEY)
        page.click("#nav-tools")
        expect(page.locator("#no-approvals")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("gina")
        # The decision URL of globex's call answers acme's key as if there were no such call.
        csrf = (page.locator("body").get_attribute("hx-headers") or "").split('"X-CSRF-Token": "')[1].split('"')[0]
        response = page.request.post(
            dashboard.url + f"/ui/approvals/{pending[0]['id']}",
            form={"csrf_token": csrf, "decision": "approve"},
            max_redirects=0,
        )
        assert response.status in (403, 404)
        assert dashboard.api("GET", "/v1/approvals", ADMIN_KEY)["data"]  # still parked
    finally:
        for item in dashboard.api("GET", "/v1/approvals", ADMIN_KEY)["data"]:
            dashboard.api("POST", f"/v1/approvals/{item['id']}", ADMIN_KEY, {"decision": "reject", "reason": "test"})
        answer.result(timeout=30)
