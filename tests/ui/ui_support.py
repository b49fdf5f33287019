"""Helpers for the dashboard's browser tests: `agentrt serve` in a subprocess, Debian's Chromium, axe-core.

(A plain module imported as ``ui_support``: the test folders are not packages. The server-side tests
have their own ``ui_pages_support``.)

The served configuration names this module twice, so the subprocess imports it too (``tests/ui`` is on
its ``PYTHONPATH``): the ``clerk`` agent type is :class:`Clerk`, and the ``bank`` toolkit is
:func:`transfer`, whose calls need an approval. Playwright is imported only by the functions that
drive the browser, so the server never loads it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
import yaml

from agentrt.agents import Activity, Agent, AgentContext
from agentrt.server import hash_key
from agentrt.tools import tool

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE_SCRIPT = HERE / "vendor" / "axe-core" / "axe.min.js"

# Debian's chromium package: the tests never let Playwright download a browser of its own.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = (
    f"Chromium is not installed ({CHROMIUM}): sudo apt-get install chromium "
    "(make test installs it when run as root); the dashboard's browser tests need it"
)
# Keep the browser off the network: no sync, no component or safe-browsing updates, no QUIC probes.
# Playwright launches it with a fresh temporary user data dir of its own each time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # as root in a container there is no user namespace for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Shaped like real keys, so that a leak into a page or a log would be easy to spot.
ADMIN_KEY = "sk-agentrt-adminBROWSER0123456789abcdefgh"
ACME_KEY = "sk-agentrt-acmeBROWSER0123456789abcdefghi"  # tenant acme: the dashboard and the API
GLOBEX_KEY = "sk-agentrt-globexBROWSER0123456789abcdefg"  # tenant globex: the dashboard and the API
UPSTREAM_KEY = "sk-upstream-browser0123456789SECRET"
TOOL_MODEL = "gpt-tools"  # the clerk's model: its upstream name gets its own scripted replies
CHAT_MODEL = "gpt-test"

PAGES = {
    "overview": "/ui",
    "usage": "/ui/usage",
    "models": "/ui/models",
    "policies": "/ui/policies",
    "audit": "/ui/audit",
    "agents": "/ui/agents",
    "tools": "/ui/tools",
}
"""Every page of the navigation, by the id its nav link has (``nav-<id>``)."""


# --- what the served runtime imports from here ---------------------------------------------------


@tool
def transfer(amount: int, to: str) -> str:
    """Send money to someone (needs an operator's approval)."""
    return f"sent {amount} to {to}"


class Clerk(Agent[dict[str, Any]]):
    """``{"say": text}`` asks the model (with the bank toolkit) and answers its text; ``{"fail_once": tag}``
    raises the first time a tag is seen in this process (the agent fails, and its resume redelivers the
    activity, which then passes); ``{"add": n}`` adds to the state's ``count`` without a model call."""

    failed_tags: ClassVar[set[str]] = set()

    async def handle(self, activity: Activity, ctx: AgentContext[dict[str, Any]]) -> Any:
        payload = activity.payload or {}
        if "fail_once" in payload:
            tag = str(payload["fail_once"])
            if tag not in Clerk.failed_tags:
                Clerk.failed_tags.add(tag)
                raise RuntimeError(f"failing once for {tag}")
            ctx.state["recovered"] = tag
            return tag
        if "say" in payload:
            completion = await ctx.generate(str(payload["say"]))
            ctx.state["last"] = completion.text
            return completion.text
        ctx.state["count"] = int(ctx.state.get("count", 0)) + int(payload.get("add", 1))
        return ctx.state["count"]


# --- the served configuration ---------------------------------------------------------------------


def dashboard_keys() -> list[dict[str, Any]]:
    both = ["chat", "agents:read", "agents:write", "dashboard"]
    return [
        {"key_sha256": hash_key(ADMIN_KEY), "name": "root", "user": "root", "admin": True},
        {"key_sha256": hash_key(ACME_KEY), "name": "acme-ops", "user": "ann", "tenant": "acme", "scopes": both},
        {"key_sha256": hash_key(GLOBEX_KEY), "name": "globex-ops", "user": "gus", "tenant": "globex", "scopes": both},
    ]


def dashboard_config(upstream_base_url: str, workdir: Path) -> dict[str, Any]:
    """A server with a SQLite store, dashboard keys of two tenants and an admin, the ``clerk`` agent type
    (model ``gpt-tools``, the ``bank`` toolkit whose ``transfer`` needs an approval) and a chat model."""
    model = {
        "provider": "fake",
        "capabilities": ["chat", "tools", "streaming"],
        "pricing": {"input": 1.0, "output": 2.0},
    }
    return {
        "runtime": {"shutdown_timeout": "5s"},
        "logging": {"console": {"format": "off"}, "file": {"path": str(workdir / "server.jsonl")}},
        "store": {"url": f"sqlite:///{workdir / 'dashboard.db'}"},
        "providers": {
            "fake": {
                "kind": "openai",
                "api_key": UPSTREAM_KEY,
                "base_url": upstream_base_url,
                "timeout": "10s",
                "retry": {"attempts": 2, "backoff": "1ms", "max_backoff": "5ms"},
            },
        },
        "models": {CHAT_MODEL: {**model, "aliases": ["default"]}, TOOL_MODEL: model},
        "tools": {"bank": {"python": "ui_support:transfer", "approval": "required"}},
        "agents": {
            "clerk": {
                "class": "ui_support:Clerk",
                "model": TOOL_MODEL,
                "tools": ["bank.*"],
                # No restart: a failing activity leaves the agent failed (keeping the activity) until resumed.
                "restart": {"strategy": "restart", "max_restarts": 0},
            },
        },
        "policies": {"approval_timeout": "2m"},
        "server": {
            "host": "127.0.0.1",
            "port": 8080,
            "api_keys": dashboard_keys(),
            "max_body": "1MB",
            "ui": {"live_interval": "0.5s"},  # the live chart moves while a test watches
        },
    }


# --- `agentrt serve` in a subprocess ----------------------------------------------------------------


SERVER_FAILURES = frozenset({"http_unexpected_error", "http_request_failed"})
"""The server's log events of a request that broke inside it (answered 500)."""


class ApiError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:500]!r}")
        self.status = status
        self.body = body


@dataclass
class ServedDashboard:
    """`agentrt serve` on a free loopback port, run as the CLI runs it, with its log in ``workdir``."""

    config: dict[str, Any]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    stderr: Path = field(init=False)

    def __post_init__(self) -> None:
        self.stderr = self.workdir / "serve.stderr"

    @property
    def log(self) -> Path:
        return self.workdir / "server.jsonl"

    def start(self, timeout: float = 60.0) -> None:
        config_file = self.workdir / "agentrt.yaml"
        config_file.write_text(yaml.safe_dump(self.config))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        command = [sys.executable, "-c", "from agentrt.cli import main; main()"]
        command += ["serve", "--config", str(config_file), "--port", "0"]
        with self.stderr.open("wb") as err:
            self.process = subprocess.Popen(command, cwd=self.workdir, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while not self.url:
            self.url = self._logged_url() or ""
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"agentrt serve did not start:\n{self.stderr.read_text()[-3000:]}")
            time.sleep(0.05)

    def _logged_url(self) -> str | None:
        if not self.log.exists():
            return None
        for line in self.log.read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                record = orjson.loads(line)
                if record.get("event") == "server_listening":
                    return str(record["url"])
        return None

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def unexpected_errors(self, since: int = 0) -> list[dict[str, Any]]:
        """The server's log records of requests that failed inside it (a 500) written after byte ``since``."""
        with self.log.open("rb") as log:
            log.seek(since)
            lines = log.read().splitlines()
        records = []
        for line in lines:
            with contextlib.suppress(ValueError):
                record = orjson.loads(line)
                if record.get("event") in SERVER_FAILURES:
                    records.append(record)
        return records

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def api(self, method: str, path: str, key: str, body: Any = None, *, timeout: float = 30.0) -> Any:
        """One JSON request to the server's API with ``key``; raises :class:`ApiError` on a status >= 400."""
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise ApiError(err.code, err.read()) from None
        return orjson.loads(raw) if raw else None

    def chat(self, key: str, text: str, *, model: str = CHAT_MODEL) -> dict[str, Any]:
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        answer: dict[str, Any] = self.api("POST", "/v1/chat/completions", key, body)
        return answer


@contextlib.contextmanager
def served_dashboard(upstream_base_url: str, workdir: Path) -> Iterator[ServedDashboard]:
    served = ServedDashboard(dashboard_config(upstream_base_url, workdir), workdir)
    served.start()
    try:
        yield served
    finally:
        served.stop()


# --- the browser ----------------------------------------------------------------------------------------


def chromium_path() -> str | None:
    """Debian's Chromium, if installed (``/usr/bin/chromium``, else ``chromium`` on the PATH)."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


class ConsoleWatch:
    """Collects a page's console errors, uncaught exceptions and requests to anywhere but ``origin`` (the
    dashboard loads nothing from a CDN or another site), to assert there were none."""

    def __init__(self, page: Page, origin: str) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("request", lambda request: self._request(request.url, origin))

    def _request(self, url: str, origin: str) -> None:
        if not url.startswith((origin + "/", "data:", "blob:", "about:")):
            self.errors.append(f"request off the dashboard's server: {url}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console.error at {message.location.get('url')}: {message.text}")

    def take(self) -> list[str]:
        errors, self.errors = self.errors, []
        return errors


def log_in(page: Page, base_url: str, key: str) -> None:
    """Log in through the login form, as a person would: type the key, press the button."""
    page.goto(base_url + "/ui/login")
    page.fill("#api_key", key)
    page.click("#login-submit")
    page.wait_for_url(base_url + "/ui")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``build/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


SERIOUS = ("serious", "critical")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of serious or critical impact on the page as it is now (WCAG 2.x A and AA,
    best practices). The script is injected from the vendored copy: nothing is fetched."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    result: dict[str, Any] = page.evaluate(
        """async () => await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
            resultTypes: ['violations'],
        })"""
    )
    return [v for v in result["violations"] if v.get("impact") in SERIOUS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [", ".join(node["target"]) for node in violation["nodes"][:5]]
        lines.append(f"{violation['impact']} {violation['id']}: {violation['help']} -> {targets}")
    return "\n".join(lines)


def wait_until(condition: Any, *, timeout: float = 20.0, interval: float = 0.05, what: str = "the condition") -> Any:
    """Poll ``condition()`` until it returns something truthy; that value, or an AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(interval)
