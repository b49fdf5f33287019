"""The dashboard on a narrow screen (320 CSS px, WCAG 1.4.10 reflow), in a real browser: no page scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page
from ui_support import ADMIN_KEY, PAGES, ServedDashboard, axe_violations, describe_violations, log_in, screenshot

# What sticks out past the viewport's right edge, outside any element that scrolls on its own (a wide table
# in a scrolling box is fine: the page itself does not scroll sideways).
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width + 1) { return []; }
  const inScroller = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { return true; }
    }
    return false;
  };
  return Array.from(document.querySelectorAll('body *'))
    .filter((el) => el.getBoundingClientRect().right > width + 1 && !inScroller(el))
    .slice(0, 8)
    .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : ''));
}"""


@pytest.fixture
def narrow_page(browser: Browser) -> Iterator[Page]:
    # bypass_csp: axe-core is injected here too (see conftest's axe_page); this test checks no console.
    ctx = browser.new_context(viewport={"width": 320, "height": 640}, bypass_csp=True)
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_no_page_scrolls_sideways_at_320_pixels_and_axe_finds_nothing_serious_there(
    narrow_page: Page, dashboard: ServedDashboard, name: str
) -> None:
    dashboard.chat(ADMIN_KEY, "something to show")
    log_in(narrow_page, dashboard.url, ADMIN_KEY)
    narrow_page.goto(dashboard.url + PAGES[name])
    narrow_page.wait_for_timeout(300)
    screenshot(narrow_page, f"narrow-{name}")
    sticking_out = narrow_page.evaluate(_OVERFLOW)
    assert sticking_out == [], f"at 320 px the page scrolls sideways because of {sticking_out}"
    # What scrolls by itself must be reachable by keyboard (axe: scrollable-region-focusable), and so on.
    violations = axe_violations(narrow_page)
    assert violations == [], describe_violations(violations)
