"""The models and providers page, the policies page (budgets, limits, refusals, the check form), the audit page."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agentrt.server.errors import HttpError
from agentrt.server.ui.context import UiContext
from agentrt.server.ui.render import render
from agentrt.server.ui.viewer import Viewer
from agentrt.store.audit import DECISIONS, read_audit
from agentrt.store.usage_rows import ledger_rows

if TYPE_CHECKING:
    from agentrt.policy import Explanation, PolicyEngine

__all__ = ["audit_page", "models_page", "policies_page", "policy_check"]

AUDIT_SINCE = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}
_MAX_MODELS_EXPLAINED = 25  # budgets are read through the models they apply to; a catalog of hundreds: the first


def _store(ui: UiContext) -> Any:
    store = ui.store()
    if store is None or not ui.store_ready:
        raise HttpError(503, "the dashboard's store is not ready yet: try again in a moment", code="ui_not_ready")
    return store


# --- models and providers -----------------------------------------------------------------------


async def models_page(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    rt = ui.rt
    now = time.time()
    providers = []
    calls = rt.calls
    for name, guard in sorted(calls.guards.items()):
        breaker = guard.breaker
        section = rt.config.providers.get(name)
        providers.append(
            {
                "name": name,
                "kind": getattr(section, "kind", "?"),
                "state": str(breaker.state),
                "failures": breaker.consecutive_failures,
                "threshold": breaker.failure_threshold,
                "cooldown": breaker.cooldown,
            }
        )
    # Call counts and latencies are the whole process's, every tenant's calls together: not a tenant's to see.
    shared = not viewer.narrowed
    window = ui.sampler.window() if ui.sampler is not None and shared else {"models": {}}
    models = []
    for name, spec in sorted(rt.config.models.items()):
        live = window["models"].get(f"{name}@{spec.provider}", {})
        models.append(
            {
                "name": name,
                "provider": spec.provider,
                "aliases": ", ".join(getattr(spec, "aliases", []) or []),
                "deployments": len(getattr(spec, "deployments", None) or []),
                "calls": live.get("calls"),
                "p50": live.get("p50"),
                "p95": live.get("p95"),
            }
        )
    deployments = [
        {
            "model": s.model,
            "label": s.label,
            "in_flight": s.in_flight,
            "latency": s.latency,
            "left": s.left,
            "ok": s.ok,
            "errors": s.errors,
            "busy": s.busy,
        }
        for s in sorted(calls.router.stats, key=lambda s: (s.model, s.label))
        if shared
    ]
    errors = await ledger_rows(
        _store(ui), tenant=viewer.tenant, user=viewer.user, since=now - 3600, failed=True, limit=25
    )
    return render(
        "models.html",
        viewer=viewer,
        page="models",
        providers=providers,
        models=models,
        deployments=deployments,
        errors=errors,
        now=now,
        window_seconds=window.get("seconds", 0.0),
        shared=shared,
    )


# --- policies -------------------------------------------------------------------------------------


def _engine(ui: UiContext) -> PolicyEngine | None:
    from agentrt.calls.policy_hook import PolicyHook
    from agentrt.policy import PolicyEngine

    hook = ui.service(PolicyHook)
    return hook if isinstance(hook, PolicyEngine) else None


async def _budgets(ui: UiContext, engine: PolicyEngine, principal: Any) -> list[dict[str, Any]]:
    """Every budget that applies to ``principal``'s calls on some model, with its counter now (deduplicated)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for name in list(ui.rt.config.models)[:_MAX_MODELS_EXPLAINED]:
        explanation = await engine.explain(principal, ui.rt.models.resolve(name))
        for b in explanation.budgets:
            key = (b.id, b.scope_key)
            if key in seen:
                continue
            used = (
                _share(b.used_cost + b.reserved_cost, b.max_cost)
                if b.max_cost is not None
                else _share(b.used_tokens + b.reserved_tokens, b.max_tokens)
            )
            seen[key] = {"b": b, "used_share": used}
    return list(seen.values())


def _share(used: float, limit: float | int | None) -> float | None:
    if not limit:
        return None
    return max(0.0, min(used / float(limit), 1.0))


def _principal(viewer: Viewer, form: dict[str, str]) -> Any:
    from agentrt.calls import Principal

    tenant, user = viewer.narrow(form.get("tenant"), form.get("user"))
    return Principal(user=user, tenant=tenant, api_key=form.get("api_key") or None)


async def policies_page(
    ui: UiContext, request: web.Request, viewer: Viewer, *, check: dict[str, Any] | None = None
) -> web.StreamResponse:
    engine = _engine(ui)
    params = {name: request.query.get(name, "") for name in ("tenant", "user", "api_key")}
    principal = _principal(viewer, params)
    budgets = await _budgets(ui, engine, principal) if engine is not None else []
    section = ui.rt.config.policies
    refusals = await read_audit(_store(ui), decision="deny", tenant=viewer.tenant, user=viewer.user, limit=30)
    return render(
        "policies.html",
        viewer=viewer,
        page="policies",
        params={**params, "tenant": principal.tenant or "", "user": principal.user or ""},
        budgets=budgets,
        limits=section.limits,
        configured_budgets=section.budgets,
        rules=section.rules,
        default=section.default,
        backend=section.backend,
        refusals=refusals,
        models=sorted(ui.rt.config.models),
        check=check,
        enabled=engine is not None,
    )


async def policy_check(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """What ``agentrt policy check`` says, for the form's call: reads counters, changes none."""
    posted = await request.post()
    form = {k: v.strip() for k, v in posted.items() if isinstance(v, str)}
    engine = _engine(ui)
    if engine is None:
        raise HttpError(404, "this runtime has no policy engine to ask", code="no_policy_engine")
    principal = _principal(viewer, form)
    model, tool = form.get("model") or "", form.get("tool") or ""
    if bool(model) == bool(tool):
        raise HttpError(400, "name the call to check: a model, or a tool (toolkit.tool), not both")
    operation = form.get("operation") or "generate"
    if operation not in ("generate", "stream", "embed", "object"):
        raise HttpError(400, f"operation must be generate, stream, embed or object, got {operation[:40]!r}")
    toolkit_approval = False
    if tool:
        toolkit_approval = _toolkit_requires_approval(ui, tool)
        explanation = await engine.explain_tool(principal, tool)
    else:
        try:
            spec = ui.rt.models.resolve(model)
        except Exception as err:
            raise HttpError(400, f"no model {model[:80]!r}: pick one of the configured models") from err
        explanation = await engine.explain(principal, spec, operation)
    check = {
        "form": form,
        "x": explanation,
        "refused": _refused(explanation),
        "toolkit_approval": toolkit_approval,  # the rules' own approval is in the explanation
    }
    return await policies_page(ui, request, viewer, check=check)


def _toolkit_requires_approval(ui: UiContext, tool: str) -> bool:
    """Whether the tool's toolkit (or its override) says ``approval: required``; 400 for a tool no toolkit has."""
    from agentrt.errors import ToolError
    from agentrt.tools import ToolRegistry

    registry = ui.service(ToolRegistry)
    try:
        if registry is None:
            raise ToolError("no tool registry")
        return bool(registry.settings(tool).approval == "required")
    except (ToolError, KeyError):
        raise HttpError(
            400, f"no tool {tool[:80]!r}: name one as toolkit.tool (the Tools page lists them)", code="unknown_tool"
        ) from None


def _refused(x: Explanation) -> bool:
    return (
        not x.allowed
        or bool(x.notes)
        or any(limit.requests_left == 0 for limit in x.limits)
        or any(b.remaining_tokens == 0 or b.remaining_cost == 0 for b in x.budgets)
    )


# --- audit ------------------------------------------------------------------------------------------


async def audit_page(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    q = request.query
    tenant, user = viewer.narrow(q.get("tenant"), q.get("user"))
    decision = q.get("decision") or None
    if decision is not None and decision not in DECISIONS:
        raise HttpError(400, f"decision must be one of {', '.join(DECISIONS)}, got {decision[:40]!r}")
    since_name = q.get("since") or "24h"
    if since_name not in AUDIT_SINCE:
        raise HttpError(400, f"since must be one of {', '.join(AUDIT_SINCE)}, got {since_name[:40]!r}")
    window = AUDIT_SINCE[since_name]
    request_id = q.get("request_id") or None
    store = _store(ui)
    rows = await read_audit(
        store,
        since=None if window is None or request_id else time.time() - window,
        decision=decision,  # type: ignore[arg-type]
        user=user,
        tenant=tenant,
        model=q.get("model") or None,
        request_id=request_id,
        tool=q.get("tool") or None,
        limit=200,
    )
    calls = await ledger_rows(store, request_id=request_id, tenant=tenant, user=user) if request_id else []
    params = {
        "decision": decision or "",
        "since": since_name,
        "tenant": tenant or "",
        "user": user or "",
        "model": q.get("model", ""),
        "tool": q.get("tool", ""),
        "request_id": request_id or "",
    }
    return render(
        "audit.html",
        viewer=viewer,
        page="audit",
        rows=rows,
        calls=calls,
        params=params,
        decisions=DECISIONS,
        periods=list(AUDIT_SINCE),
    )
