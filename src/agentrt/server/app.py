"""The aiohttp application: routes, the one middleware (auth, errors, metrics, in-flight count), API keys.

``create_app(rt)`` builds the app for a running runtime. Its routes come from
the route modules (OpenAI, operations, agents when the runtime has them); the
OpenAPI document is generated from the same declarations.

One middleware does everything per request, because each middleware layer
costs a few microseconds: it takes the request id (the client's ``x-request-id``
when usable, else a new one) for the call, the log lines and the answer,
authenticates (for routes that need a key) and checks the key's scope, reads
the body within ``server.body_timeout``, runs the handler, turns any error
into OpenAI's error shape with the right status, counts the request by route
template and status, and tracks the requests in flight for a graceful shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiohttp import web
from structlog.contextvars import bind_contextvars, reset_contextvars

from agentrt.calls.principal import request_id
from agentrt.server.admin_routes import AdminRoutes
from agentrt.server.anthropic_routes import AnthropicRoutes
from agentrt.server.approvals_routes import ApprovalRoutes
from agentrt.server.auth import ApiKeys
from agentrt.server.errors import ErrorInfo, describe_error, error_response
from agentrt.server.metrics import UNMATCHED, HttpMetrics, http_metrics
from agentrt.server.openai_routes import OpenAIRoutes
from agentrt.server.openapi import openapi_document
from agentrt.server.requests import ABORTED, REQUEST_ID, ClientAborted, client_request_id, read_body
from agentrt.server.responses_routes import ResponsesRoutes
from agentrt.server.routing import API_KEY, Route, ServerContext
from agentrt.services import ServiceDefinition

if TYPE_CHECKING:
    from agentrt.config import ServerSection
    from agentrt.runtime import Runtime

__all__ = ["CONTEXT", "create_app", "server_routes"]

_log = structlog.get_logger("agentrt.server")

CONTEXT = web.AppKey("agentrt_server_context", ServerContext)
"""The app's :class:`ServerContext` (``app[CONTEXT]``)."""


def create_app(rt: Runtime, *, agents: bool | None = None) -> web.Application:
    """The HTTP app serving ``rt`` (a running runtime).

    ``agents``: serve the agents API; None serves it when the runtime has agents.
    """
    ctx = ServerContext(rt, _api_keys(rt))
    routes = server_routes(ctx, agents=agents)
    settings = rt.config.server
    app = web.Application(
        client_max_size=int(settings.max_body),
        middlewares=[_middleware(ctx, routes, http_metrics(rt.metrics), settings)],
    )
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
    app[CONTEXT] = ctx
    app.on_startup.append(_register_api_keys)
    app.on_startup.append(_run_startups)
    app.on_cleanup.append(_run_cleanups)
    app.on_response_prepare.append(_close_when_stopping)
    app.on_response_prepare.append(_add_request_id)
    return app


def server_routes(ctx: ServerContext, *, agents: bool | None = None) -> list[Route]:
    """Every route of the server, ``/openapi.json`` included."""
    routes = [
        *OpenAIRoutes(ctx).routes(),
        *AnthropicRoutes(ctx).routes(),
        *ResponsesRoutes(ctx).routes(),
        *AdminRoutes(ctx).routes(),
        *ApprovalRoutes(ctx).routes(),
    ]
    if agents is None:
        agents = _has_agents(ctx.rt)
    if agents:
        from agentrt.server.agents_routes import AgentRoutes

        routes.extend(AgentRoutes(ctx).routes())
    from agentrt.server.mcp_routes import McpRoutes, mcp_installed

    if mcp_installed():
        routes.extend(McpRoutes(ctx).routes())
    if ctx.rt.config.server.ui.enabled:
        from agentrt.server.ui import UiRoutes

        routes.extend(UiRoutes(ctx).routes())
    document: dict[str, bytes] = {}

    async def openapi(request: web.Request) -> web.StreamResponse:
        if not document:  # generated on first use: it takes tens of milliseconds
            document["body"] = orjson.dumps(openapi_document([r for r in routes if r.in_openapi]))
        return web.Response(body=document["body"], content_type="application/json")

    routes.append(
        Route(
            "GET",
            "/openapi.json",
            openapi,
            "openapi",
            "This OpenAPI document",
            "operations",
            auth="none",
            responses={200: "application/json"},
        )
    )
    return routes


def _has_agents(rt: Runtime) -> bool:
    try:
        from agentrt.agents import AgentRuntime
    except ImportError:  # pragma: no cover - an install without the agents package
        return False
    return AgentRuntime in rt.services


async def _run_startups(app: web.Application) -> None:
    for startup in app[CONTEXT].startups:
        await startup()


async def _run_cleanups(app: web.Application) -> None:
    for cleanup in app[CONTEXT].cleanups:
        await cleanup()


async def _close_when_stopping(request: web.Request, response: web.StreamResponse) -> None:
    # During a graceful stop every answer says `Connection: close`, so that clients open a new
    # connection for their next request (and find the port closed) instead of reusing this one
    # just as the server closes it.
    if request.app[CONTEXT].stopping.is_set():
        response.force_close()


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    rid = request.get(REQUEST_ID)
    if rid is not None:
        response.headers["x-request-id"] = rid


# --- API keys as a service ------------------------------------------------------------------


def _api_keys(rt: Runtime) -> ApiKeys:
    if ApiKeys in rt.services:
        return rt.services.get(ApiKeys)  # another app on the same runtime: share its keys
    return ApiKeys(rt.config.server)


async def _register_api_keys(app: web.Application) -> None:
    """Add the app's keys to the runtime as a service of the ``server`` section, so a reload
    (file watcher, SIGHUP, ``/admin/reload``) swaps them in at once."""
    ctx = app[CONTEXT]
    if ApiKeys in ctx.rt.services:
        return
    keys = ctx.keys

    async def server_api_keys() -> AsyncIterator[ApiKeys]:
        yield keys

    await ctx.rt.services.add(
        ServiceDefinition.from_function(
            server_api_keys, name="server_api_keys", provides=ApiKeys, config_section="server", origin="server"
        )
    )


# --- the middleware ---------------------------------------------------------------------------


def _middleware(ctx: ServerContext, routes: list[Route], metrics: HttpMetrics | None, settings: ServerSection) -> Any:
    by_name = {route.name: route for route in routes}
    keys = ctx.keys
    in_flight = ctx.in_flight
    max_body = int(settings.max_body)
    body_timeout = float(settings.body_timeout)

    @web.middleware
    async def handle(request: web.Request, handler: Any) -> web.StreamResponse:
        started = perf_counter()
        in_flight.enter()
        route = by_name.get(request.match_info.route.name or "")
        shape = route.error_shape.body if route is not None and route.error_shape is not None else None
        status = 500
        rid = client_request_id(request.headers.get("x-request-id"))
        request[REQUEST_ID] = rid
        rid_token = request_id.set(rid)
        # Every log line of the request names the request and the key (never the key itself). Reset
        # after: a keep-alive connection serves its next request in the same task.
        bound: Mapping[str, Any] = bind_contextvars(request_id=rid)
        try:
            if route is not None and route.auth != "none":
                key = keys.authenticate(
                    request.headers.get("Authorization"),
                    admin=route.auth == "admin",
                    api_key=request.headers.get("x-api-key"),
                )
                if route.scope is not None:
                    key.require(route.scope)
                request[API_KEY] = key
                bound = {**bound, **bind_contextvars(key_name=key.label)}
            if route is not None and route.body is not None and request.body_exists:
                await read_body(request, body_timeout)
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            response = error_response(_http_exception(request, exc, max_body), request_id=rid, body=shape)
            status = response.status
            return response
        except asyncio.CancelledError:
            status = 499  # the client went away, or a shutdown gave up on the request
            raise
        except ClientAborted:
            status = 499
            _log.info("http_client_aborted", reason="the client closed the connection before its body was sent")
            response = error_response(ABORTED, request_id=rid, body=shape)
            response.force_close()
            return response
        except Exception as exc:
            response = error_response(describe_error(exc), request_id=rid, body=shape)
            status = response.status
            return response
        finally:
            reset_contextvars(**bound)
            request_id.reset(rid_token)
            in_flight.leave()
            if metrics is not None:
                metrics.observe(
                    route.path if route is not None else UNMATCHED, request.method, status, perf_counter() - started
                )

    return handle


def _http_exception(request: web.Request, exc: web.HTTPException, max_body: int) -> ErrorInfo:
    status = exc.status
    if status == 404:
        return ErrorInfo(
            404,
            f"no route {request.method} {request.path}: the API is described at /openapi.json",
            "not_found_error",
            "unknown_route",
        )
    if status == 405:
        allowed = exc.headers.get("Allow", "")
        return ErrorInfo(
            405,
            f"{request.method} is not allowed on {request.path}; allowed: {allowed}",
            "invalid_request_error",
            "method_not_allowed",
            headers={"Allow": allowed},
        )
    if status == 413:
        return ErrorInfo(
            413,
            f"the request body is larger than the server accepts ({max_body} bytes): "
            "send less, or raise server.max_body",
            "invalid_request_error",
            "request_too_large",
        )
    return ErrorInfo(status, exc.reason or "HTTP error", "invalid_request_error", None)
