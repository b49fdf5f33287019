"""The dashboard with JavaScript off, in a real browser: every page and every form works, minus the live parts."""

from __future__ import annotations

import concurrent.futures

import pytest
from playwright.sync_api import Page, expect
from ui_support import ACME_KEY, ADMIN_KEY, PAGES, TOOL_MODEL, ServedDashboard, log_in

from agentrt.testing import FakeUpstream, Reply


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_its_content_on_the_server(no_js_page: Page, dashboard: ServedDashboard, name: str) -> None:
    log_in(no_js_page, dashboard.url, ADMIN_KEY)
    no_js_page.click(f"#nav-{name}")
    expect(no_js_page).to_have_url(dashboard.url + PAGES[name])
    expect(no_js_page.locator("main h1")).to_be_visible()
    expect(no_js_page.locator("#error-message")).to_have_count(0)


def test_the_usage_filters_submit_as_a_plain_form(no_js_page: Page, dashboard: ServedDashboard) -> None:
    dashboard.chat(ADMIN_KEY, "for the usage table")
    log_in(no_js_page, dashboard.url, ADMIN_KEY)
    no_js_page.goto(dashboard.url + "/ui/usage")
    no_js_page.select_option("#period", "today")
    no_js_page.select_option("#by", "model")
    no_js_page.click("#usage-apply")
    no_js_page.wait_for_url("**/ui/usage?*by=model*")
    expect(no_js_page.locator("#usage-table tbody th[scope=row]").first).to_have_text("gpt-test")


def test_a_tool_call_is_approved_with_the_plain_form(
    no_js_page: Page, dashboard: ServedDashboard, upstream: FakeUpstream
) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "nojs-clerk", "state": {}})
    upstream.script(
        Reply(tool_calls=[("bank__transfer", {"amount": 2, "to": "ned"})]), Reply(text="Sent 2."), model=TOOL_MODEL
    )
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    body = {"payload": {"say": "send ned 2"}, "timeout": 60}
    answer = pool.submit(dashboard.api, "POST", "/v1/agents/nojs-clerk/ask", ACME_KEY, body, timeout=70)
    pool.shutdown(wait=False)

    log_in(no_js_page, dashboard.url, ADMIN_KEY)
    for _ in range(100):  # no htmx polling without JavaScript: reload until the parked call is listed
        no_js_page.goto(dashboard.url + "/ui/tools")
        if no_js_page.locator("#approvals button[id^='approve-']").count():
            break
        no_js_page.wait_for_timeout(200)
    no_js_page.locator("#approvals button[id^='approve-']").click()
    no_js_page.wait_for_url("**/ui/tools?done=approved")
    expect(no_js_page.locator("#approval-notice")).to_contain_text("approved")
    assert answer.result(timeout=30)["result"] == "Sent 2."


def test_an_agent_is_terminated_with_the_plain_form(no_js_page: Page, dashboard: ServedDashboard) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "nojs-doomed", "state": {}})
    log_in(no_js_page, dashboard.url, ADMIN_KEY)
    no_js_page.goto(dashboard.url + "/ui/agents/nojs-doomed")
    expect(no_js_page.locator("#agent-events-status")).to_contain_text("Needs JavaScript")
    no_js_page.click("#agent-terminate")
    expect(no_js_page.locator("#agent-status")).to_have_text("terminated")
    expect(no_js_page.locator("#agent-notice")).to_contain_text("terminated")
