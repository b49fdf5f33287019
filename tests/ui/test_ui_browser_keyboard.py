"""The dashboard by keyboard alone, in a real browser: log in, skip link, tab order, visible focus, forms."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect
from ui_support import ADMIN_KEY, PAGES, ConsoleWatch, ServedDashboard, log_in

# What the focused element is and whether its focus shows: an outline or a box shadow drawn for it.
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) { return null; }
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  const box = el.getBoundingClientRect();
  return {
    id: el.id, tag: el.tagName.toLowerCase(), text: (el.textContent || '').trim().slice(0, 40),
    href: el.getAttribute('href'), visible: box.width > 0 && box.height > 0, ring: outline || shadow,
    inView: box.bottom > 0 && box.right > 0 && box.top < window.innerHeight + 2000,
  };
}"""


def _focused(page: Page) -> dict[str, Any]:
    info: dict[str, Any] | None = page.evaluate(_FOCUSED)
    assert info is not None, "Tab left the focus nowhere"
    return info


def test_logging_in_needs_only_the_keyboard(page: Page, console: ConsoleWatch, dashboard: ServedDashboard) -> None:
    page.goto(dashboard.url + "/ui/login")
    for _ in range(6):  # the skip link first, then the key's field
        page.keyboard.press("Tab")
        if _focused(page)["id"] == "api_key":
            break
    assert _focused(page)["id"] == "api_key"
    page.keyboard.type(ADMIN_KEY)
    page.keyboard.press("Enter")
    expect(page).to_have_url(dashboard.url + "/ui")
    assert console.take() == []


def test_the_first_tab_shows_the_skip_link_and_it_jumps_to_the_content(page: Page, dashboard: ServedDashboard) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + "/ui/usage")
    page.keyboard.press("Tab")
    first = _focused(page)
    assert first["href"] == "#main"
    assert "Skip to content" in first["text"]
    skip = page.locator("a.skip-link")
    box = skip.bounding_box()
    assert box is not None
    assert box["y"] >= 0, "the skip link stays off screen when focused"
    assert box["width"] > 20
    assert first["ring"], "the focused skip link has no visible focus"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")  # the next stop is inside the content, past the navigation
    inside = page.evaluate("document.getElementById('main').contains(document.activeElement)")
    assert inside, f"after the skip link, Tab went to {_focused(page)}"


@pytest.mark.parametrize("name", list(PAGES))
def test_tabbing_through_a_page_reaches_every_nav_link_in_order_with_a_visible_focus(
    page: Page, dashboard: ServedDashboard, name: str
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.goto(dashboard.url + PAGES[name])
    page.wait_for_load_state("load")
    seen: list[dict[str, Any]] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        info = page.evaluate(_FOCUSED)
        if info is None or (seen and info == seen[0]):
            break  # wrapped around to the browser's chrome, or to the start
        seen.append(info)
    without_ring = [f"{i['tag']}#{i['id']} {i['text']!r}" for i in seen if not i["ring"]]
    assert without_ring == [], f"focus is not visible on: {without_ring}"
    hidden = [f"{i['tag']}#{i['id']}" for i in seen if not i["visible"]]
    assert hidden == [], f"Tab stops on elements that cannot be seen: {hidden}"
    nav = [i["id"].removeprefix("nav-") for i in seen if i["id"].startswith("nav-")]
    assert nav == list(PAGES), "the navigation's links are not all reached, in order, by Tab"


def test_a_nav_link_is_followed_with_enter_and_the_usage_form_submits_with_enter(
    page: Page, console: ConsoleWatch, dashboard: ServedDashboard
) -> None:
    log_in(page, dashboard.url, ADMIN_KEY)
    page.focus("#nav-usage")
    page.keyboard.press("Enter")
    expect(page).to_have_url(dashboard.url + "/ui/usage")
    page.focus("#by")
    page.keyboard.press("ArrowDown")  # (no grouping) -> tenant, as a keyboard user picks it
    page.focus("#f-model")
    page.keyboard.type("gpt-test")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/usage?*model=gpt-test*")
    assert "by=tenant" in page.url
    expect(page.locator("#f-model")).to_have_value("gpt-test")
    assert console.take() == []
