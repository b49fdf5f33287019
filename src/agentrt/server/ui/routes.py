"""The dashboard's routes under ``/ui``: login, logout, the pages, their JSON and SSE parts, static files.

Every route is a :class:`~agentrt.server.routing.Route` (so metrics and the
middleware know it) with ``auth="none"``: the dashboard authenticates with its
session cookie, here, instead of an ``Authorization`` header. A request
without a valid session is sent to the login page (pages) or answered 401
(JSON and event streams). Every POST needs the session's CSRF token. The
HTML pages stay out of ``/openapi.json``; the JSON API is documented there.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from agentrt.server.errors import HttpError
from agentrt.server.ui import pages_agents, pages_ops, pages_tools, pages_usage
from agentrt.server.ui.context import UiContext
from agentrt.server.ui.live import Sampler
from agentrt.server.ui.render import redirect, render
from agentrt.server.ui.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Sessions,
    new_login_token,
    same_token,
)
from agentrt.server.ui.viewer import Viewer, may_log_in

if TYPE_CHECKING:
    from agentrt.server.routing import Route, ServerContext

__all__ = ["UiRoutes"]

PageHandler = Callable[[UiContext, web.Request, Viewer], Awaitable[web.StreamResponse]]

STATIC = Path(__file__).parent / "static"
_TAG = "dashboard"


class UiRoutes:
    """The handlers of ``/ui``; starts the live sampler and the usage rollup with the app."""

    def __init__(self, ctx: ServerContext) -> None:
        settings = ctx.rt.config.server.ui
        secret = settings.secret.get_secret_value().encode() if settings.secret is not None else None
        metrics = ctx.rt.metrics
        sampler = (
            Sampler(metrics.registry, interval=float(settings.live_interval), version=lambda: ctx.rt.config_version)
            if metrics.enabled
            else None
        )
        self.ui = UiContext(ctx, Sessions(secret, float(settings.session_ttl)), sampler)
        ctx.startups.append(self.ui.start)
        ctx.cleanups.append(self.ui.close)
        # Static files: the set is fixed at start, so a request can name nothing outside it.
        self._static = {path.relative_to(STATIC).as_posix(): path for path in STATIC.rglob("*") if path.is_file()}

    def routes(self) -> list[Route]:
        from agentrt.server.routing import Route

        def page(method: str, path: str, handler: PageHandler, name: str, summary: str, **kw: Any) -> Route:
            kind = kw.pop("kind", "page")
            return Route(
                method,
                path,
                self._guard(handler, kind),
                name,
                summary,
                _TAG,
                auth="none",
                in_openapi=kind == "json",
                responses=kw.pop("responses", {200: "text/html"}),
                **kw,
            )

        return [
            Route(
                "GET",
                "/ui/login",
                self.login_form,
                "uiLogin",
                "Dashboard login form",
                _TAG,
                auth="none",
                in_openapi=False,
            ),
            Route(
                "POST",
                "/ui/login",
                self.login,
                "uiLoginSubmit",
                "Log in to the dashboard",
                _TAG,
                auth="none",
                in_openapi=False,
            ),
            page("POST", "/ui/logout", self.logout, "uiLogout", "Log out", kind="form"),
            Route(
                "GET",
                "/ui/static/{path:.+}",
                self.static,
                "uiStatic",
                "Dashboard assets",
                _TAG,
                auth="none",
                in_openapi=False,
            ),
            page("GET", "/ui", pages_usage.overview, "uiOverview", "Overview"),
            page(
                "GET",
                "/ui/api/live",
                pages_usage.live_json,
                "uiLive",
                "Live call rates of the last 15 minutes",
                kind="json",
                responses={200: "application/json"},
                errors=(401,),
            ),
            page(
                "GET",
                "/ui/events/live",
                pages_usage.live_events,
                "uiLiveEvents",
                "Live call rates (SSE)",
                kind="stream",
            ),
            page("GET", "/ui/usage", pages_usage.usage_page, "uiUsage", "Usage"),
            page(
                "GET",
                "/ui/usage.csv",
                pages_usage.usage_csv,
                "uiUsageCsv",
                "Usage as CSV",
                kind="json",
                responses={200: "text/csv"},
                errors=(400, 401, 403),
            ),
            page(
                "GET",
                "/ui/api/usage",
                pages_usage.usage_json,
                "uiUsageJson",
                "Usage over time, grouped",
                kind="json",
                responses={200: "application/json"},
                errors=(400, 401, 403),
            ),
            page("GET", "/ui/models", pages_ops.models_page, "uiModels", "Models and providers"),
            page("GET", "/ui/policies", pages_ops.policies_page, "uiPolicies", "Policies"),
            page(
                "POST", "/ui/policies/check", pages_ops.policy_check, "uiPolicyCheck", "Run a policy check", kind="form"
            ),
            page("GET", "/ui/audit", pages_ops.audit_page, "uiAudit", "Audit trail"),
            page("GET", "/ui/agents", pages_agents.agents_page, "uiAgents", "Agents"),
            page("GET", "/ui/agents/{agent_id}", pages_agents.agent_page, "uiAgent", "One agent"),
            page(
                "GET",
                "/ui/agents/{agent_id}/events",
                pages_agents.agent_events,
                "uiAgentEvents",
                "One agent's events (SSE)",
                kind="stream",
            ),
            page(
                "POST",
                "/ui/agents/{agent_id}/terminate",
                pages_agents.terminate,
                "uiAgentTerminate",
                "Terminate an agent",
                kind="form",
            ),
            page(
                "POST",
                "/ui/agents/{agent_id}/resume",
                pages_agents.resume,
                "uiAgentResume",
                "Resume an agent",
                kind="form",
            ),
            page("GET", "/ui/tools", pages_tools.tools_page, "uiTools", "Tools and approvals"),
            page("GET", "/ui/approvals", pages_tools.approvals_fragment, "uiApprovals", "Pending approvals (fragment)"),
            page(
                "POST",
                "/ui/approvals/{approval_id}",
                pages_tools.decide,
                "uiApprovalDecide",
                "Approve or reject a tool call",
                kind="form",
            ),
            # Last: any other path under /ui is a page that does not exist, said as a page, not as JSON.
            page("GET", "/ui/{rest:.*}", _no_such_page, "uiNotFound", "No such dashboard page"),
        ]

    # --- sessions ----------------------------------------------------------------------------

    def _viewer(self, request: web.Request) -> Viewer | None:
        sessions = self.ui.sessions
        session = sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        key = self.ui.server.keys.lookup_digest(session.digest)
        if key is None or not may_log_in(key):  # removed, or its scope taken away, by a reload
            return None
        return Viewer(key, session, sessions.csrf_token(session))

    def _guard(self, handler: PageHandler, kind: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            viewer = self._viewer(request)
            if viewer is None:
                if kind == "page":
                    return redirect("/ui/login?next=" + quote(request.path_qs, safe=""))
                raise HttpError(401, "not logged in to the dashboard: log in at /ui/login", code="ui_login_required")
            if request.method == "POST":
                form = await request.post()
                token = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
                if not self.ui.sessions.csrf_valid(viewer.session, token if isinstance(token, str) else None):
                    raise HttpError(
                        403,
                        "the form's CSRF token is missing or wrong: reload the page and try again",
                        type="permission_error",
                        code="csrf_failed",
                    )
            try:
                return await handler(self.ui, request, viewer)
            except HttpError as err:
                if kind in ("json", "stream"):
                    raise
                info = err.info
                return render(
                    "error.html", info.status, viewer=viewer, page="", status=info.status, message=info.message
                )

        return guarded

    async def login_form(self, request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
        token = new_login_token()
        response = render(
            "login.html",
            status,
            viewer=None,
            page="login",
            csrf=token,
            next=_safe_next(request.query.get("next")),
            error=error,
        )
        _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if not same_token(request.cookies.get(LOGIN_COOKIE), _text(form.get(CSRF_FIELD))):
            return await self.login_form(request, error="The form expired: please log in again.", status=403)
        api_key = (_text(form.get("api_key")) or "").strip()
        key = self.ui.server.keys.lookup(api_key) if api_key.isascii() and api_key else None
        if key is None:
            return await self.login_form(request, error="Unknown API key.", status=401)
        if not may_log_in(key):
            return await self.login_form(
                request,
                error=f"The key {key.label!r} may not use the dashboard: it needs admin, or the "
                "'dashboard' scope in server.api_keys.",
                status=403,
            )
        from agentrt.server.keys import hash_key

        cookie, _ = self.ui.sessions.issue(hash_key(api_key))
        response = redirect(_safe_next(_text(form.get("next"))))
        _set_cookie(request, response, SESSION_COOKIE, cookie, max_age=int(self.ui.sessions.ttl))
        response.del_cookie(LOGIN_COOKIE, path="/ui")
        return response

    async def logout(self, ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        ui.sessions.revoke(viewer.session)
        response = redirect("/ui/login")
        response.del_cookie(SESSION_COOKIE, path="/ui")
        return response

    async def static(self, request: web.Request) -> web.StreamResponse:
        path = self._static.get(request.match_info["path"])
        if path is None:
            raise HttpError(404, f"no dashboard asset {request.match_info['path']!r}", type="not_found_error")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.Response(
            body=path.read_bytes(),
            content_type=kind,
            charset="utf-8" if kind.startswith("text/") or kind.endswith("javascript") else None,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )


async def _no_such_page(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    if not request.match_info["rest"]:
        return redirect("/ui")  # /ui/ is the overview
    raise HttpError(404, f"no dashboard page {request.path[:120]!r}: the menu above lists them", type="not_found_error")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _safe_next(target: str | None) -> str:
    """Where to go after login: a dashboard path only (never another site: ``//evil`` or a full URL)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/ui",
        httponly=True,
        samesite="Strict",
        secure=request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https",
    )
