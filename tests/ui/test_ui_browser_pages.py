"""The dashboard in a real browser: log in, visit every page with no console error, axe-core, keyboard.

Each page is checked with axe-core (vendored) for violations of serious or critical impact, and
saved as a screenshot under build/screenshots/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from ui_support import (
    ADMIN_KEY,
    GLOBEX_KEY,
    PAGES,
    ConsoleWatch,
    ServedDashboard,
    axe_violations,
    describe_violations,
    log_in,
    screenshot,
)


@pytest.fixture(scope="module", autouse=True)
def some_traffic(dashboard: ServedDashboard) -> None:
    """A few calls and an agent, so the pages have rows and charts to draw."""
    for text in ("hello", "how are you"):
        dashboard.chat(ADMIN_KEY, text)
        dashboard.chat(GLOBEX_KEY, text)
    dashboard.api("POST", "/v1/agents", GLOBEX_KEY, {"type": "clerk", "id": "pages-clerk", "state": {}})
    dashboard.api("POST", "/v1/agents/pages-clerk/ask", GLOBEX_KEY, {"payload": {"add": 2}})


def test_the_login_form_takes_a_key_and_opens_the_overview(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    page.goto(dashboard.url + "/ui/usage")
    expect(page).to_have_url(dashboard.url + "/ui/login?next=%2Fui%2Fusage")
    screenshot(page, "login")
    page.fill("#api_key", ADMIN_KEY)
    page.click("#login-submit")
    expect(page).to_have_url(dashboard.url + "/ui/usage")
    expect(page.locator("#who")).to_contain_text("admin")
    assert console.take() == []


def test_a_wrong_key_stays_on_the_login_form_with_a_message(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    page.goto(dashboard.url + "/ui/login")
    page.fill("#api_key", "sk-agentrt-nobodyBROWSER0123456789abcdef")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_contain_text("Unknown API key")
    expect(page.locator("#nav")).to_have_count(0)
    # The browser reports the 401 answer of the form post as a failed resource: that is the page saying no.
    assert [e for e in console.take() if "401" not in e] == []


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_opens_from_the_navigation_with_no_console_error(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard, name: str
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.click(f"#nav-{name}")
    expect(page).to_have_url(dashboard.url + PAGES[name])
    expect(page.locator(f"#nav-{name}")).to_have_attribute("aria-current", "page")
    page.wait_for_load_state("load")  # (never "networkidle": the live parts keep an event stream open)
    page.wait_for_timeout(300)  # the scripts' first fetches and event streams
    screenshot(page, name)
    assert console.take() == []


@pytest.mark.parametrize("name", ["login", *PAGES, "agent"])
def test_every_page_has_no_serious_or_critical_axe_violation(
    axe_page: Page, dashboard: ServedDashboard, name: str
) -> None:
    if name != "login":
        log_in(axe_page, dashboard.url, ADMIN_KEY)
    path = {"login": "/ui/login", "agent": "/ui/agents/pages-clerk"}.get(name) or PAGES[name]
    axe_page.goto(dashboard.url + path)
    axe_page.wait_for_timeout(300)  # let the charts draw: axe checks what is on the page
    violations = axe_violations(axe_page)
    assert violations == [], describe_violations(violations)


def test_one_agents_page_shows_its_status_and_follows_its_events(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.click("#nav-agents")
    page.click("a[href='/ui/agents/pages-clerk']")
    expect(page.locator("#agent-status")).to_have_text("idle")
    expect(page.locator("#agent-events-status")).to_contain_text("Following")
    expect(page.locator("#agent-state")).to_contain_text("count")
    screenshot(page, "agent")
    assert console.take() == []


def test_the_axe_check_reports_serious_violations_when_there_are_some(axe_page: Page) -> None:
    """The check above can fail: a page with an image without text and an empty button is reported."""
    axe_page.set_content("<html><body><main><img src='data:,'><button></button></main></body></html>")
    found = {violation["id"] for violation in axe_violations(axe_page)}
    assert {"image-alt", "button-name"} <= found


def test_the_console_watch_reports_errors_and_requests_off_the_server(page: Page, dashboard: ServedDashboard) -> None:
    """The no-console-error checks above can fail: a script error and a CDN request are both caught."""
    watch = ConsoleWatch(page, dashboard.url)
    page.route("http://cdn.example.invalid/**", lambda route: route.abort())  # never leaves the machine
    page.set_content('<img src="http://cdn.example.invalid/x.png" alt="x"><script>console.error("boom")</script>')
    errors = " | ".join(watch.take())
    assert "request off the dashboard's server: http://cdn.example.invalid/x.png" in errors
    assert "boom" in errors
