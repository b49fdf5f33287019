"""Working with the dashboard in a real browser: the usage CSV, a policy check, an audit row followed to its call."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect
from ui_support import ACME_KEY, ADMIN_KEY, GLOBEX_KEY, ConsoleWatch, ServedDashboard, log_in


@pytest.fixture(scope="module", autouse=True)
def calls_of_two_tenants(dashboard: ServedDashboard) -> None:
    dashboard.chat(ACME_KEY, "acme asks")
    dashboard.chat(GLOBEX_KEY, "globex asks")


def _download_csv(page: Page) -> list[dict[str, str]]:
    with page.expect_download() as download:
        page.click("#usage-csv")
    path = download.value.path()
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_usage_csv_downloads_what_the_page_shows(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + "/ui/usage?period=today&by=tenant")
    rows = _download_csv(page)
    assert rows, "the CSV has no rows"
    tenants = {row.get("tenant") or row.get("key") or row.get("group") for row in rows}
    assert {"acme", "globex"} <= tenants, rows[:3]
    assert console.take() == []


def test_a_tenants_csv_holds_its_tenant_only(page: Page, dashboard: ServedDashboard) -> None:
    log_in(page, dashboard.url, ACME_KEY)
    page.goto(dashboard.url + "/ui/usage?period=today&by=tenant")
    text = " ".join(" ".join(row.values()) for row in _download_csv(page))
    assert "acme" in text
    assert "globex" not in text


def test_the_policy_check_form_says_what_the_policy_would_do_with_a_call(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.click("#nav-policies")
    page.select_option("#c-model", "gpt-test")
    page.fill("#c-tenant", "acme")
    page.fill("#c-user", "ann")
    page.click("#policy-check-submit")
    expect(page.locator("#policy-check-result")).to_contain_text("Admitted")
    expect(page.locator("#c-model")).to_have_value("gpt-test")  # the form keeps what was asked
    assert console.take() == []


def test_the_policy_check_form_says_a_tools_calls_wait_for_an_approval(page: Page, dashboard: ServedDashboard) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.click("#nav-policies")
    page.fill("#c-tool", "bank.transfer")  # its toolkit says approval: required
    page.click("#policy-check-submit")
    expect(page.locator("#policy-check-approval")).to_contain_text("waits for a person's approval")
    expect(page.locator("#policy-check-approval")).to_contain_text("toolkit")


def test_the_policy_check_of_an_unknown_tool_says_how_to_name_one(page: Page, dashboard: ServedDashboard) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.click("#nav-policies")
    page.fill("#c-tool", "bank.steal")
    page.click("#policy-check-submit")
    expect(page.locator("#error-message")).to_contain_text("no tool 'bank.steal'")


def test_an_audit_row_links_to_its_calls_ledger_row(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + "/ui/audit?tenant=acme")
    link = page.locator("#audit-table a.request-link").first
    expect(link).to_be_visible()
    request_id = link.inner_text()
    link.click()
    expect(page.locator("#ledger-h")).to_contain_text(request_id)
    expect(page.locator("#ledger-rows tbody tr").first).to_contain_text("gpt-test")
    assert console.take() == []
