"""Fixtures of the dashboard's browser tests: a fake upstream, `agentrt serve`, Debian's Chromium via Playwright.

The server is started once per session, the browser once per module; each test gets a fresh
browser context (no cookies: logged out) and a page whose console errors are collected.
Chromium missing skips the browser tests with the command that installs it, except under CI
(``CI=true``), where it fails them, as the Redis and PostgreSQL fixtures do.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from ui_support import CHROMIUM_ARGS, CHROMIUM_MISSING, ConsoleWatch, ServedDashboard, chromium_path, served_dashboard

from agentrt.testing import FakeUpstream

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


def _missing(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    """A fake OpenAI-format provider in a thread of its own (the tests here are synchronous)."""
    with FakeUpstream.in_thread() as up:
        yield up


@pytest.fixture(scope="session")
def dashboard(upstream: FakeUpstream) -> Iterator[ServedDashboard]:
    """`agentrt serve` with the dashboard's test configuration (see ``ui_support.dashboard_config``)."""
    with (
        tempfile.TemporaryDirectory(prefix="agentrt-ui-") as workdir,
        served_dashboard(upstream.openai_base_url, Path(workdir)) as served,
    ):
        yield served


@pytest.fixture(autouse=True)
def _no_server_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that used the served dashboard fails if a request broke inside the server (a 500 logged)."""
    if "dashboard" not in request.fixturenames:
        yield
        return
    served: ServedDashboard = request.getfixturevalue("dashboard")
    start = served.log_size()
    yield
    failures = served.unexpected_errors(since=start)
    assert failures == [], f"the server failed requests during the test: {failures}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, per test module: Playwright's sync API keeps its event loop marked as running while it
    is open, so it must be closed before the async tests of the next module run (pytest-asyncio)."""
    executable = chromium_path()
    if executable is None:
        _missing(CHROMIUM_MISSING)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed: pip install -e '.[dev]' (make test does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context: its own cookies, so each test starts logged out."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A page for axe-core's checks. Its context bypasses the dashboard's Content-Security-Policy, which
    rightly refuses the inline script that ``add_script_tag`` makes of the vendored axe; the pages'
    own scripts are checked under the real policy by the tests using :func:`page`."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    """A page with JavaScript turned off: the dashboard's pages and forms must work without it."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.fixture
def console(page: Page, dashboard: ServedDashboard) -> ConsoleWatch:
    """The page's console errors, uncaught exceptions and requests off the served dashboard, from the start."""
    return ConsoleWatch(page, dashboard.url)
