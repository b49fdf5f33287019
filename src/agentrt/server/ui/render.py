"""HTML out: the Jinja2 environment of the dashboard's templates, its filters, and the response helpers.

Jinja2 is imported on the first page rendered, not when the server starts.
Autoescaping is on for every template: the pages show user names, tool
arguments and reasons that anyone calling the API could have chosen.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["NAV", "html", "redirect", "render", "templates"]

TEMPLATES = Path(__file__).parent / "templates"

NAV = (
    ("overview", "/ui", "Overview"),
    ("usage", "/ui/usage", "Usage"),
    ("models", "/ui/models", "Models"),
    ("policies", "/ui/policies", "Policies"),
    ("audit", "/ui/audit", "Audit"),
    ("agents", "/ui/agents", "Agents"),
    ("tools", "/ui/tools", "Tools"),
)
"""The navigation: page id, path, label."""

# Pages must not be framed (clickjacking the buttons), cached by a shared cache, or sniffed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_ENV: list[Environment] = []


def templates() -> Environment:
    """The one Jinja2 environment (made on first use)."""
    if not _ENV:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        env = Environment(
            loader=FileSystemLoader(str(TEMPLATES)),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(usd=usd, when=when, num=num, seconds=seconds, pct=pct, query=query, ago=ago)
        env.globals["nav"] = NAV
        _ENV.append(env)
    return _ENV[0]


def render(name: str, status: int = 200, /, **context: Any) -> web.Response:
    """The template ``name`` rendered with ``context`` as an HTML response."""
    body = templates().get_template(name).render(**context)
    return html(body, status)


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


def redirect(location: str) -> web.Response:
    """A 303 to ``location`` (a path of this server): after a form, the browser GETs the page again."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


# --- filters ---------------------------------------------------------------------------------


def usd(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.{digits}f}" if abs(value) < 100 else f"${value:,.2f}"


def when(ts: float | datetime | None) -> str:
    if ts is None:
        return "-"
    moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    delta = max(now - ts, 0.0)
    if delta < 90:
        return f"{delta:.0f} s ago"
    if delta < 5400:
        return f"{delta / 60:.0f} min ago"
    return f"{delta / 3600:.1f} h ago"


def num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def query(params: dict[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` as a query string (None and empty values dropped)."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})
