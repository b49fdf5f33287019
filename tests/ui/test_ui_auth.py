"""The dashboard's login: keys, scopes, the session cookie's flags and signature, CSRF, logout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from ui_pages_support import ACME_KEY, ADMIN_KEY, CHAT_KEY, Browser, Served, dashboard_served

from agentrt.server.auth import ApiKeys
from agentrt.server.ui.session import SESSION_COOKIE, Sessions
from agentrt.testing import FakeUpstream


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with FakeUpstream() as up, dashboard_served(up, tmp_path) as s:
        yield s


async def test_a_page_without_a_session_sends_the_browser_to_the_login_form(served: Served) -> None:
    async with Browser(served.url) as b:
        status, _, response = await b.get("/ui/usage?period=today")
        assert status == 303
        assert response.headers["Location"] == "/ui/login?next=%2Fui%2Fusage%3Fperiod%3Dtoday"
        status, body, _ = await b.get("/ui/api/usage")
        assert status == 401
        assert "log in at /ui/login" in body


async def test_an_admin_key_logs_in_and_the_cookie_is_httponly_strict_and_holds_no_key(served: Served) -> None:
    async with Browser(served.url) as b:
        response = await b.login(ADMIN_KEY)
        assert response.status == 303
        assert response.headers["Location"] == "/ui"
        cookie = response.cookies[SESSION_COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/ui"
        assert not cookie["secure"]  # plain http on loopback; https sets it (see the unit test below)
        assert ADMIN_KEY not in cookie.value
        assert ADMIN_KEY[11:] not in cookie.value
        status, body, response = await b.get("/ui")
        assert status == 200
        assert "Overview" in body
        assert 'id="cost-today"' in body
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"


async def test_keys_without_the_dashboard_scope_and_unknown_keys_are_refused(served: Served) -> None:
    async with Browser(served.url) as b:
        response = await b.login(CHAT_KEY)
        assert response.status == 403
        assert "needs admin, or the &#39;dashboard&#39; scope" in (await response.text())
        assert SESSION_COOKIE not in response.cookies
        response = await b.login("sk-agentrt-nobody0123456789abcdefghijklmn")
        assert response.status == 401
        status, _, _ = await b.get("/ui")
        assert status == 303  # still not logged in


async def test_the_login_form_needs_its_double_submitted_token(served: Served) -> None:
    # No GET of the form first: no login cookie, so a cross-site POST cannot log anyone in.
    form = {"api_key": ADMIN_KEY, "csrf_token": "x"}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        http.post(served.url + "/ui/login", data=form, allow_redirects=False) as response,
    ):
        assert response.status == 403
        assert SESSION_COOKIE not in response.cookies


async def test_posts_without_the_csrf_token_are_refused(served: Served) -> None:
    async with Browser(served.url) as b:
        await b.login(ADMIN_KEY)
        status, body, _ = await b.post("/ui/policies/check", {"model": "gpt-test"}, csrf=False)
        assert status == 403
        assert "csrf_failed" in body
        status, body, _ = await b.post("/ui/policies/check", {"model": "gpt-test", "csrf_token": "forged"}, csrf=False)
        assert status == 403
        status, _, _ = await b.post("/ui/logout", {}, csrf=False)
        assert status == 403
        status, body, _ = await b.post("/ui/policies/check", {"model": "gpt-test"})
        assert status == 200
        assert 'id="policy-check-result"' in body


async def test_logout_ends_the_session_even_for_a_copied_cookie(served: Served) -> None:
    async with Browser(served.url) as b:
        response = await b.login(ACME_KEY)
        stolen = response.cookies[SESSION_COOKIE].value
        status, _, response = await b.post("/ui/logout", {})
        assert status == 303
        assert response.headers["Location"] == "/ui/login"
        status, _, _ = await b.get("/ui")
        assert status == 303
    async with (
        aiohttp.ClientSession() as http,
        http.get(served.url + "/ui", cookies={SESSION_COOKIE: stolen}, allow_redirects=False) as response,
    ):
        assert response.status == 303


async def test_a_tampered_cookie_is_no_session(served: Served) -> None:
    async with Browser(served.url) as b:
        response = await b.login(ACME_KEY)
        value = response.cookies[SESSION_COOKIE].value
        body, _, signature = value.partition(".")
        forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    async with (
        aiohttp.ClientSession() as http,
        http.get(served.url + "/ui", cookies={SESSION_COOKIE: forged}, allow_redirects=False) as response,
    ):
        assert response.status == 303


async def test_a_key_removed_by_a_reload_ends_its_sessions(served: Served) -> None:
    s = served
    async with Browser(s.url) as b:
        await b.login(ACME_KEY)
        assert (await b.get("/ui"))[0] == 200
        keys = s.rt.services.get(ApiKeys)
        section = s.rt.config.server.model_copy(
            update={"api_keys": [k for k in s.rt.config.server.api_keys if k.name != "acme-dash"]}
        )
        keys.reconfigure(section)
        assert (await b.get("/ui"))[0] == 303


async def test_the_login_redirect_never_leaves_the_dashboard(served: Served) -> None:
    async with Browser(served.url) as b:
        async with b.session.get(b.base + "/ui/login") as form:
            from ui_pages_support import csrf_of

            token = csrf_of(await form.text())
        for target in ("https://evil.example/", "//evil.example/ui", "/v1/models", "/ui\\..\\x"):
            async with b.session.post(
                b.base + "/ui/login",
                data={"api_key": ADMIN_KEY, "csrf_token": token, "next": target},
                allow_redirects=False,
            ) as response:
                assert response.status == 303
                assert response.headers["Location"] == "/ui"
            async with b.session.get(b.base + "/ui/login") as form:
                token = csrf_of(await form.text())


def test_sessions_expire_and_are_bound_to_their_secret() -> None:
    sessions = Sessions(b"k" * 32, ttl=60)
    cookie, session = sessions.issue("ab" * 32, now=1000.0)
    assert sessions.read(cookie, now=1059.0) == session
    assert sessions.read(cookie, now=1060.0) is None  # expired
    assert Sessions(b"other" * 8, ttl=60).read(cookie, now=1001.0) is None  # another secret signed it
    assert sessions.csrf_valid(session, sessions.csrf_token(session))
    assert not sessions.csrf_valid(session, None)
    other_cookie, other = sessions.issue("ab" * 32, now=1000.0)
    assert not sessions.csrf_valid(other, sessions.csrf_token(session))  # a token is bound to its session
    sessions.revoke(session)
    assert sessions.read(cookie, now=1001.0) is None
    assert sessions.read(other_cookie, now=1001.0) == other
    for junk in ("", "x", "a.b", "!!!.???", "e30.e30", "." * 2000):
        assert sessions.read(junk) is None


async def test_the_cookie_is_secure_behind_https(served: Served) -> None:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        http.get(served.url + "/ui/login", headers={"X-Forwarded-Proto": "https"}) as form,
    ):
        assert form.cookies["agentrt_ui_login"]["secure"] is True
