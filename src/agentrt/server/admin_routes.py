"""Operations endpoints: liveness, readiness, Prometheus metrics, and the admin reload.

- ``GET /healthz``: the process answers. No auth.
- ``GET /readyz``: every service running and healthy, no shutdown under way;
  503 otherwise, so a load balancer stops sending traffic. Shows the
  configuration version. No auth.
- ``GET /metrics``: the Prometheus text of the runtime's registry. No auth by
  default, as scrapers expect: it holds counts, latencies and costs by model,
  provider and route, never a key, a prompt or a user's data. To keep even
  those private, set ``server.metrics_token`` (``${METRICS_TOKEN}`` reads it
  from the environment): the scrape then needs ``Authorization: Bearer
  <token>``, which Prometheus sends with ``authorization: {credentials: ...}``
  in its scrape config. The API keys are not accepted there: a scraper's
  credential should open nothing else.
- ``POST /admin/reload``: reads the configuration again (as SIGHUP does) and
  returns what changed. Admin keys only.
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from agentrt.runtime import ReloadResult, RuntimeState
from agentrt.server.errors import HttpError
from agentrt.server.routing import Route, ServerContext
from agentrt.services import ServiceState

__all__ = ["AdminRoutes", "Health", "Readiness", "ReloadReport", "reload_body"]

# A readiness probe must answer quickly even if a service's health check hangs.
_HEALTH_TIMEOUT = 1.0


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Out):
    status: Literal["ok"]


class ServiceStatus(_Out):
    state: str
    healthy: bool
    detail: str | None = None


class Readiness(_Out):
    status: Literal["ready", "not_ready"]
    config_version: int
    services: dict[str, ServiceStatus]
    reason: str | None = None


class ConfigChangeOut(_Out):
    path: str
    old: Any
    new: Any


class ReloadReport(_Out):
    """What a reload did; ``applied`` is false when the new configuration was invalid (see ``problems``)."""

    applied: bool
    version: int
    changes: list[ConfigChangeOut]
    reconfigured: list[str]
    restart_required: list[str]
    problems: list[str]
    failures: dict[str, str]


def reload_body(result: ReloadResult) -> dict[str, Any]:
    return {
        "applied": result.applied,
        "version": result.version,
        "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in result.changes],
        "reconfigured": list(result.reconfigured),
        "restart_required": list(result.restart_required),
        "problems": [str(p) for p in result.problems],
        "failures": dict(result.failures),
    }


def _json(body: Any, status: int = 200) -> web.Response:
    # default=str: a changed value of a type JSON lacks (a path, a date) is shown as text.
    return web.Response(body=orjson.dumps(body, default=str), status=status, content_type="application/json")


def _check_metrics_token(authorization: str | None, token: str) -> None:
    scheme, _, presented = (authorization or "").partition(" ")
    presented = presented.strip()
    # compare_digest on bytes: a non-ASCII header must fail the check, not raise.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.encode("utf-8", "surrogateescape"), token.encode("utf-8")
    ):
        raise HttpError(
            401,
            "/metrics needs `Authorization: Bearer <token>` with the token of server.metrics_token "
            "(in Prometheus: `authorization: {credentials: <token>}` in the scrape config)",
            code="invalid_metrics_token",
        )


class AdminRoutes:
    """The handlers of ``/healthz``, ``/readyz``, ``/metrics`` and ``/admin/reload``."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/healthz",
                self.healthz,
                "healthz",
                "Liveness: the process answers",
                "operations",
                auth="none",
                responses={200: Health},
            ),
            Route(
                "GET",
                "/readyz",
                self.readyz,
                "readyz",
                "Readiness: every service running and healthy",
                "operations",
                auth="none",
                responses={200: Readiness, 503: Readiness},
            ),
            Route(
                "GET",
                "/metrics",
                self.metrics,
                "metrics",
                "Prometheus metrics",
                "operations",
                auth="none",
                responses={200: "text/plain"},
                errors=(401, 404),
                description="The runtime's Prometheus registry: counts, latencies and costs, no secrets. "
                "Needs `Authorization: Bearer <server.metrics_token>` when that token is set.",
            ),
            Route(
                "POST",
                "/admin/reload",
                self.reload,
                "reloadConfig",
                "Reload the configuration",
                "admin",
                auth="admin",
                responses={200: ReloadReport},
                errors=(401, 403, 503),
            ),
        ]

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.StreamResponse:
        rt = self._ctx.rt
        reports = await rt.services.health(timeout=_HEALTH_TIMEOUT)
        states = {info.name: info.state for info in rt.services.info()}
        services = {
            name: {
                "state": states[name].value if name in states else "unknown",
                "healthy": report.healthy,
                "detail": report.detail,
            }
            for name, report in reports.items()
        }
        reason: str | None = None
        if rt.state is not RuntimeState.RUNNING:
            reason = f"the runtime is {rt.state.value}"
        elif rt.shutdown_requested.is_set() or self._ctx.stopping.is_set():
            reason = "shutting down"
        else:
            failing = [
                name
                for name, report in reports.items()
                if not report.healthy or states.get(name) is not ServiceState.RUNNING
            ]
            if failing:
                reason = f"not running or unhealthy: {', '.join(failing)}"
        body = {
            "status": "not_ready" if reason else "ready",
            "config_version": rt.config_version,
            "services": services,
            "reason": reason,
        }
        return _json(body, 503 if reason else 200)

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        from prometheus_client import CONTENT_TYPE_LATEST

        token = self._ctx.rt.config.server.metrics_token
        if token is not None:
            _check_metrics_token(request.headers.get("Authorization"), token.get_secret_value())
        metrics = self._ctx.rt.metrics
        if not metrics.enabled:
            raise HttpError(
                404,
                "metrics are disabled: set observability.metrics.enabled to true",
                type="not_found_error",
                code="metrics_disabled",
            )
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def reload(self, request: web.Request) -> web.StreamResponse:
        result = await self._ctx.rt.reload()
        return _json(reload_body(result))
