"""The dashboard's buttons in a real browser: approve a parked tool call, reject one, terminate and resume an agent."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from playwright.sync_api import Page, expect
from ui_support import (
    ACME_KEY,
    ADMIN_KEY,
    TOOL_MODEL,
    ConsoleWatch,
    ServedDashboard,
    log_in,
    screenshot,
    wait_until,
)

from agentrt.testing import FakeUpstream, Reply


def _ask_in_background(
    dashboard: ServedDashboard, agent: str, payload: dict[str, Any]
) -> concurrent.futures.Future[Any]:
    """Ask the agent over the API from another thread: the ask waits while its tool call is parked."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(
        dashboard.api, "POST", f"/v1/agents/{agent}/ask", ACME_KEY, {"payload": payload, "timeout": 60}, timeout=70
    )
    pool.shutdown(wait=False)
    return future


def _tool_results(upstream: FakeUpstream) -> list[str]:
    """The tool results the model was sent back (the contents of ``role: tool`` messages)."""
    results = []
    for request in upstream.requests:
        body = request.body if isinstance(request.body, dict) else {}
        for message in body.get("messages", []):
            if message.get("role") == "tool":
                results.append(str(message.get("content")))
    return results


def test_an_admin_approves_a_parked_tool_call_and_the_agents_model_call_completes(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard, upstream: FakeUpstream
) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "approve-clerk", "state": {}})
    upstream.script(
        Reply(tool_calls=[("bank__transfer", {"amount": 5, "to": "bob"})]),
        Reply(text="Sent 5 to bob."),
        model=TOOL_MODEL,
    )
    answer = _ask_in_background(dashboard, "approve-clerk", {"say": "send bob 5"})

    log_in(page, dashboard.url, ADMIN_KEY)
    page.click("#nav-tools")
    # The approvals part refreshes itself (htmx, every 3 s): the parked call appears without a reload.
    approve = page.locator("#approvals button[id^='approve-']")
    expect(approve).to_have_count(1, timeout=20_000)
    item = page.locator("#approvals li.approval")
    expect(item).to_contain_text("bank.transfer")
    expect(item).to_contain_text("acme")
    expect(item.locator("pre.args")).to_contain_text('"to": "bob"')
    screenshot(page, "tools-pending")
    assert not answer.done()  # parked: the model call waits for the decision

    approve.click()
    expect(page.locator("#no-approvals")).to_be_visible()
    result = answer.result(timeout=30)
    assert result["result"] == "Sent 5 to bob."
    assert "sent 5 to bob" in _tool_results(upstream)
    assert console.take() == []


def test_an_admin_rejects_a_parked_tool_call_with_a_reason_the_model_is_told(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard, upstream: FakeUpstream
) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "reject-clerk", "state": {}})
    upstream.script(
        Reply(tool_calls=[("bank__transfer", {"amount": 900, "to": "mallory"})]),
        Reply(text="The transfer was refused."),
        model=TOOL_MODEL,
    )
    answer = _ask_in_background(dashboard, "reject-clerk", {"say": "send mallory 900"})

    log_in(page, dashboard.url, ADMIN_KEY)
    page.click("#nav-tools")
    reject = page.locator("#approvals button[id^='reject-']")
    expect(reject).to_have_count(1, timeout=20_000)
    page.locator("#approvals input[id^='reason-']").fill("not a customer of ours")
    reject.click()
    expect(page.locator("#no-approvals")).to_be_visible()
    assert answer.result(timeout=30)["result"] == "The transfer was refused."
    told = [text for text in _tool_results(upstream) if "mallory" in text or "not a customer" in text]
    assert told, "the model was not told the rejection"
    assert "not a customer of ours" in told[-1]
    assert "sent 900" not in " ".join(_tool_results(upstream))
    assert console.take() == []


def test_a_tenant_key_sees_its_pending_call_but_has_no_buttons_to_decide_it(
    page: Page, dashboard: ServedDashboard, upstream: FakeUpstream
) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "look-clerk", "state": {}})
    upstream.script(
        Reply(tool_calls=[("bank__transfer", {"amount": 1, "to": "eve"})]), Reply(text="done"), model=TOOL_MODEL
    )
    answer = _ask_in_background(dashboard, "look-clerk", {"say": "send eve 1"})
    try:
        log_in(page, dashboard.url, ACME_KEY)  # acme's key lacks the approvals scope
        page.click("#nav-tools")
        expect(page.locator("#approvals li.approval")).to_have_count(1, timeout=20_000)
        expect(page.locator("#approvals li.approval")).to_contain_text("needs an admin key or the")
        expect(page.locator("#approvals button")).to_have_count(0)
    finally:
        pending = wait_until(lambda: dashboard.api("GET", "/v1/approvals", ADMIN_KEY)["data"], what="the pending call")
        dashboard.api("POST", f"/v1/approvals/{pending[0]['id']}", ADMIN_KEY, {"decision": "approve"})
        assert answer.result(timeout=30)["result"] == "done"


def test_an_admin_terminates_an_agent_from_its_page(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "doomed-clerk", "state": {}})
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + "/ui/agents/doomed-clerk")
    expect(page.locator("#agent-status")).to_have_text("idle")
    page.click("#agent-terminate")
    expect(page.locator("#agent-status")).to_have_text("terminated")
    expect(page.locator("#agent-terminate")).to_have_count(0)
    assert dashboard.api("GET", "/v1/agents/doomed-clerk", ADMIN_KEY)["status"] == "terminated"
    assert console.take() == []


def test_an_admin_resumes_a_failed_agent_from_its_page_and_it_works_again(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "fragile-clerk", "state": {}})
    dashboard.api("POST", "/v1/agents/fragile-clerk/tell", ACME_KEY, {"payload": {"fail_once": "boom"}})
    wait_until(
        lambda: dashboard.api("GET", "/v1/agents/fragile-clerk", ADMIN_KEY)["status"] == "failed",
        what="the agent failing",
    )
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + "/ui/agents/fragile-clerk")
    expect(page.locator("#agent-status")).to_have_text("failed")
    screenshot(page, "agent-failed")
    page.click("#agent-resume")
    expect(page.locator("#agent-status")).not_to_have_text("failed")
    expect(page.locator("#agent-resume")).to_have_count(0)
    # The kept activity ran again on resume, and passed this time; then the agent takes new work.
    answer = dashboard.api("POST", "/v1/agents/fragile-clerk/ask", ACME_KEY, {"payload": {"add": 3}})
    assert answer["result"] == 3
    assert dashboard.api("GET", "/v1/agents/fragile-clerk", ADMIN_KEY)["state"]["recovered"] == "boom"
    assert console.take() == []


def test_a_tenant_key_has_no_terminate_button_and_its_post_is_refused(page: Page, dashboard: ServedDashboard) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "kept-clerk", "state": {}})
    log_in(page, dashboard.url, ACME_KEY)
    page.goto(dashboard.url + "/ui/agents/kept-clerk")
    expect(page.locator("#agent-status")).to_have_text("idle")
    expect(page.locator("#agent-terminate")).to_have_count(0)
    # A hand-made POST with the page's own CSRF token is refused too: acting needs an admin key.
    csrf = page.locator("body").get_attribute("hx-headers") or ""
    token = csrf.split('"X-CSRF-Token": "')[1].split('"')[0]
    response = page.request.post(
        dashboard.url + "/ui/agents/kept-clerk/terminate", form={"csrf_token": token}, max_redirects=0
    )
    assert response.status == 403
    assert dashboard.api("GET", "/v1/agents/kept-clerk", ADMIN_KEY)["status"] == "idle"
