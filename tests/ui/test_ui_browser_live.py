"""The dashboard's live parts in a real browser: the overview's chart and an agent's events move while work runs."""

from __future__ import annotations

import threading

from playwright.sync_api import Page, expect
from ui_support import ACME_KEY, ADMIN_KEY, ConsoleWatch, ServedDashboard, log_in, screenshot


def _calls_in_background(dashboard: ServedDashboard, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            dashboard.chat(ACME_KEY, "tick")
            stop.wait(0.05)

    thread = threading.Thread(target=run, name="ui-test-calls", daemon=True)
    thread.start()
    return thread


def test_the_overview_chart_and_rates_move_while_calls_run(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    updated = page.locator("#live-updated")
    expect(updated).not_to_have_attribute("data-count", "0")  # the first points came over the event stream
    stop = threading.Event()
    thread = _calls_in_background(dashboard, stop)
    try:
        # A point taken while calls run shows a non-zero rate, and the chart gets drawn points.
        page.wait_for_function("() => parseFloat(document.getElementById('now-calls').textContent) > 0", timeout=15_000)
        before = int(updated.get_attribute("data-count") or "0")
        page.wait_for_function(
            f"() => Number(document.getElementById('live-updated').dataset.count) >= {before + 2}", timeout=15_000
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    # uPlot drew into a canvas with the calls series labelled.
    expect(page.locator("#live-chart canvas")).to_have_count(1)
    expect(page.locator("#live-chart")).to_contain_text("calls/s")
    screenshot(page, "overview-live")
    assert console.take() == []


def test_an_agents_page_shows_its_events_as_they_happen(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    dashboard.api("POST", "/v1/agents", ACME_KEY, {"type": "clerk", "id": "live-clerk", "state": {}})
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + "/ui/agents/live-clerk")
    expect(page.locator("#agent-events-status")).to_contain_text("Following")
    events = page.locator("#agent-events li")
    page.wait_for_timeout(300)  # the event stream is open
    seen = events.count()
    for n in range(1, 4):
        assert dashboard.api("POST", "/v1/agents/live-clerk/ask", ACME_KEY, {"payload": {"add": 1}})["result"] == n
    expect(page.locator("#agent-events li.event-result")).to_have_count(3)
    expect(page.locator("#agent-events li.event-result").last).to_contain_text("3")
    assert events.count() > seen
    screenshot(page, "agent-live")

    dashboard.api("DELETE", "/v1/agents/live-clerk", ACME_KEY)
    expect(page.locator("#agent-status")).to_have_text("terminated")
    expect(page.locator("#agent-events-status")).to_contain_text("no more events")
    assert console.take() == []
