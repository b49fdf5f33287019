"""Helpers for the dashboard's server-side tests: a served runtime with dashboard keys, and a logged-in client.

(A plain module imported as ``ui_pages_support``; the browser tests have their own ``ui_support``.)
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_support import ADMIN_KEY, Served, api_keys, server_config

from agentrt import Runtime
from agentrt.server import HttpServer, hash_key
from agentrt.testing import FakeUpstream

# Shaped like real keys, so that a leak into a page or a log would be easy to spot.
ACME_KEY = "sk-agentrt-acmeDASH0123456789abcdefghijk"  # tenant acme, dashboard scope
GLOBEX_KEY = "sk-agentrt-globexDASH0123456789abcdefgh"  # tenant globex, dashboard + approvals
CHAT_KEY = "sk-agentrt-chatONLY0123456789abcdefghijk"  # no dashboard scope
OPERATOR_KEY = "sk-agentrt-operatorDASH0123456789abcdef"  # no tenant, no user: sees all, acts on nothing
SOLO_KEY = "sk-agentrt-soloDASH0123456789abcdefghijk"  # a user without a tenant: that user's calls only

__all__ = [
    "ACME_KEY",
    "ADMIN_KEY",
    "CHAT_KEY",
    "GLOBEX_KEY",
    "OPERATOR_KEY",
    "SOLO_KEY",
    "Browser",
    "Served",
    "csrf_of",
    "dashboard_served",
    "server_config",
]


def dashboard_keys() -> list[dict[str, Any]]:
    return [
        *api_keys(),
        {
            "key_sha256": hash_key(ACME_KEY),
            "name": "acme-dash",
            "user": "ann",
            "tenant": "acme",
            "scopes": ["chat", "dashboard"],
        },
        {
            "key_sha256": hash_key(GLOBEX_KEY),
            "name": "globex-dash",
            "user": "gus",
            "tenant": "globex",
            "scopes": ["chat", "dashboard", "approvals"],
        },
        {"key_sha256": hash_key(CHAT_KEY), "name": "chat-only", "user": "carl", "tenant": "acme", "scopes": ["chat"]},
        {"key_sha256": hash_key(OPERATOR_KEY), "name": "operator", "scopes": ["dashboard"]},
        {"key_sha256": hash_key(SOLO_KEY), "name": "solo", "user": "sam", "scopes": ["dashboard"]},
    ]


@contextlib.asynccontextmanager
async def dashboard_served(up: FakeUpstream, tmp_path: Path, **overrides: Any) -> AsyncIterator[Served]:
    """A runtime with a SQLite store and the dashboard keys, served on a free loopback port."""
    config = server_config(up, tmp_path, store={"url": f"sqlite:///{tmp_path / 'ui.db'}"}, **overrides)
    config["server"] = {**config["server"], "api_keys": dashboard_keys(), "max_body": "1MB"}
    rt = Runtime.open(config, plugins=False)
    async with rt, HttpServer(rt, port=0) as server:
        yield Served(rt, server, up)


def refund(amount: int) -> str:
    """Give money back (the ``shop`` toolkit of the tests: its calls need an approval)."""
    return f"refunded {amount}"


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """An aiohttp session with a cookie jar, acting as a browser does: GET the login form, POST it."""

    def __init__(self, base: str) -> None:
        self.base = base
        # unsafe=True: the jar keeps cookies of an IP address host (127.0.0.1).
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def login(self, key: str) -> aiohttp.ClientResponse:
        async with self.session.get(self.base + "/ui/login") as form:
            token = csrf_of(await form.text())
        response = await self.session.post(
            self.base + "/ui/login", data={"api_key": key, "csrf_token": token, "next": "/ui"}, allow_redirects=False
        )
        await response.read()
        if response.status == 303:
            async with self.session.get(self.base + "/ui") as page:
                self.csrf = csrf_of(await page.text())
        return response

    async def get(self, path: str, **kw: Any) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.session.get(self.base + path, allow_redirects=False, **kw) as response:
            return response.status, await response.text(), response

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> tuple[int, str, Any]:
        body = {**data, "csrf_token": self.csrf} if csrf else data
        async with self.session.post(self.base + path, data=body, allow_redirects=False) as response:
            return response.status, await response.text(), response


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "no csrf_token field on the page"
    return found.group(1)
