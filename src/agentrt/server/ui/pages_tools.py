"""Tools and approvals: the registry's tools and sources, the tool calls waiting for approval, the decision.

Approvals follow the approvals API's rule: a narrowed viewer sees and decides
its own tenant's (or user's) calls only, and deciding needs an admin key or
the ``approvals`` scope. The approver recorded in the audit trail is the key's
user, else its name, as through ``POST /v1/approvals/{id}``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agentrt.errors import ToolError
from agentrt.server.errors import HttpError
from agentrt.server.ui.context import UiContext
from agentrt.server.ui.render import redirect, render
from agentrt.server.ui.viewer import Viewer

if TYPE_CHECKING:
    from agentrt.tools._approvals import ApprovalRequest, Approvals

__all__ = ["approvals_fragment", "decide", "tools_page"]


def _approvals(ui: UiContext) -> Approvals | None:
    from agentrt.tools._governance import ToolGovernor

    governor = ui.service(ToolGovernor)
    return governor.approvals if governor is not None else None


def _pending(ui: UiContext, viewer: Viewer) -> list[ApprovalRequest] | None:
    approvals = _approvals(ui)
    if approvals is None:
        return None
    items = approvals.pending(tenant=viewer.tenant, all_tenants=not viewer.narrowed)
    return [item for item in items if viewer.sees(item.tenant, item.user)]


def _tools(ui: UiContext) -> tuple[list[Any], dict[str, Any]] | None:
    from agentrt.tools import ToolRegistry

    registry = ui.service(ToolRegistry)
    if registry is None:
        return None
    tools = sorted(registry.list(), key=lambda t: t.full_name)
    return tools, dict(sorted(registry.status().items()))


async def tools_page(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    found = _tools(ui)
    return render(
        "tools.html",
        viewer=viewer,
        page="tools",
        tools=found[0] if found else [],
        sources=found[1] if found else {},
        registry=found is not None,
        pending=_pending(ui, viewer),
        now=time.time(),
        notice=request.query.get("done") if request.query.get("done") in ("approved", "rejected") else None,
    )


async def approvals_fragment(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """Only the pending list, for htmx to swap in every few seconds."""
    return render("_approvals.html", viewer=viewer, pending=_pending(ui, viewer), now=time.time())


async def decide(ui: UiContext, request: web.Request, viewer: Viewer) -> web.StreamResponse:
    if not viewer.can_approve:
        raise HttpError(
            403,
            "deciding tool calls needs an admin key or the 'approvals' scope",
            type="permission_error",
            code="insufficient_scope",
        )
    form = await request.post()
    decision = form.get("decision")
    if decision not in ("approve", "reject"):
        raise HttpError(400, "decision must be approve or reject")
    reason = form.get("reason")
    reason = reason.strip()[:2000] or None if isinstance(reason, str) else None
    approval_id = request.match_info["approval_id"]
    approvals = _approvals(ui)
    by = viewer.key.principal.user or viewer.label
    try:
        if approvals is None:
            raise ToolError("no approvals here")
        found = approvals.get(approval_id, tenant=viewer.tenant, all_tenants=not viewer.narrowed)
        if not viewer.sees(found.tenant, found.user):
            raise ToolError("another tenant's approval")
        if decision == "approve":
            approvals.approve(approval_id, by=by)
        else:
            approvals.reject(approval_id, reason, by=by)
    except ToolError:
        raise HttpError(
            404,
            f"no pending approval {approval_id[:80]!r}: it was decided already, timed out, or does not exist",
            type="not_found_error",
            code="approval_not_found",
        ) from None
    if request.headers.get("HX-Request"):
        return await approvals_fragment(ui, request, viewer)
    return redirect(f"/ui/tools?done={decision}d")
