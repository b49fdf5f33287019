"""The approvals API: the tool calls waiting for a person's yes, and the yes or no.

=====================================  ==============================================================
``GET /v1/approvals``                  the pending tool calls, oldest first
``POST /v1/approvals/{approval_id}``   ``{"decision": "approve" | "reject", "reason": "..."}``
``GET /v1/approvals/events``           server-sent events: ``requested``, ``approved``, ``rejected``,
                                       ``timeout``
=====================================  ==============================================================

Scope: ``approvals``, which a key gets only when its ``scopes`` list it (a key
without ``scopes`` does not have it: approving a tool call is a power granted
on purpose) or when it is an admin key. Tenants: a key sees, decides and
follows only the calls of its own tenant (its user's, when it has no tenant);
another tenant's approval is answered 404, exactly as one that does not exist.
Admin keys see and decide all. The approver recorded in the audit trail is the
key's user (else the key's name).

Pending approvals live in the serving process: with several workers, a call
parked in one is decided through that one (or through ``rt.tools`` there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agentrt.errors import ToolError
from agentrt.server.errors import HttpError
from agentrt.server.routing import API_KEY, Route, ServerContext
from agentrt.server.sse import EventStream, format_event, relay
from agentrt.server.validation import parse_body

if TYPE_CHECKING:
    from agentrt.server.auth import ApiKey
    from agentrt.tools._approvals import ApprovalEvent, ApprovalRequest, Approvals

__all__ = ["ApprovalDecisionIn", "ApprovalList", "ApprovalOut", "ApprovalRoutes"]

SCOPE = "approvals"


class ApprovalOut(BaseModel):
    """One tool call waiting for approval (its arguments with secret fields redacted)."""

    id: str
    tool: str
    arguments: dict[str, Any]
    user: str | None = None
    tenant: str | None = None
    api_key: str | None = None
    request_id: str | None = None
    rule: str | None = None
    created: float
    expires_at: float


class ApprovalList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ApprovalOut]


class ApprovalDecisionIn(BaseModel):
    """The decision on one pending tool call; ``reason`` goes to the model when it is rejected."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=2000)


class ApprovalDecided(BaseModel):
    id: str
    decision: Literal["approved", "rejected"]
    by: str | None = None


class ApprovalRoutes:
    """The handlers of ``/v1/approvals``."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx

    def routes(self) -> list[Route]:
        return [
            Route(
                "GET",
                "/v1/approvals",
                self.list_pending,
                "listApprovals",
                "The tool calls waiting for approval",
                "approvals",
                scope=SCOPE,
                responses={200: ApprovalList},
                errors=(401, 403),
            ),
            Route(
                "GET",
                "/v1/approvals/events",
                self.events,
                "approvalEvents",
                "Follow approval events (server-sent events)",
                "approvals",
                scope=SCOPE,
                responses={200: "text/event-stream"},
                errors=(401, 403),
            ),
            Route(
                "POST",
                "/v1/approvals/{approval_id}",
                self.decide,
                "decideApproval",
                "Approve or reject a tool call",
                "approvals",
                scope=SCOPE,
                body=ApprovalDecisionIn,
                responses={200: ApprovalDecided},
                errors=(400, 401, 403, 404),
            ),
        ]

    def _approvals(self) -> Approvals:
        from agentrt.tools._governance import ToolGovernor

        try:
            governor = self._ctx.rt.services.get(ToolGovernor)
        except Exception as err:
            raise HttpError(
                404, "tool approvals are not available on this server", type="not_found_error", code="no_approvals"
            ) from err
        return governor.approvals

    async def list_pending(self, request: web.Request) -> web.StreamResponse:
        key = request[API_KEY]
        tenant = _tenant_of(key)
        pending = self._approvals().pending(tenant=tenant, all_tenants=key.admin)
        if not key.admin and key.principal.tenant is None:  # a key without a tenant: its user's calls only
            pending = [item for item in pending if item.user == key.principal.user]
        body = {"object": "list", "data": [_out(item) for item in pending]}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def decide(self, request: web.Request) -> web.StreamResponse:
        key = request[API_KEY]
        body = parse_body(ApprovalDecisionIn, await request.read())
        approval_id = request.match_info["approval_id"]
        approvals = self._approvals()
        by = key.principal.user or key.label
        try:
            found = approvals.get(approval_id, tenant=_tenant_of(key), all_tenants=key.admin)
            if not _sees(key, found):
                raise ToolError("another user's approval")
            if body.decision == "approve":
                approvals.approve(approval_id, by=by)
            else:
                approvals.reject(approval_id, body.reason, by=by)
        except ToolError:
            raise HttpError(
                404,
                f"no pending approval {approval_id!r}: it was decided already, timed out, or does not exist "
                "(GET /v1/approvals lists the pending ones)",
                type="not_found_error",
                code="approval_not_found",
            ) from None
        decided = "approved" if body.decision == "approve" else "rejected"
        return web.Response(
            body=orjson.dumps({"id": approval_id, "decision": decided, "by": by}), content_type="application/json"
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        key = request[API_KEY]
        subscription = self._approvals().subscribe()
        stream = EventStream(request)

        async def write(event: ApprovalEvent) -> None:
            if _sees(key, event.request):
                await stream.write(format_event(orjson.dumps(event.as_dict()), event=event.kind))

        try:
            await relay(stream, subscription.__anext__, self._ctx.stopping, write)
        finally:
            await subscription.aclose()
        return await stream.close()


def _tenant_of(key: ApiKey) -> str | None:
    return key.principal.tenant


def _sees(key: ApiKey, item: ApprovalRequest) -> bool:
    """Whether ``key`` may see and decide ``item``: admin, its tenant's, or (no tenant) its user's."""
    if key.admin:
        return True
    tenant = key.principal.tenant
    if tenant is not None:
        return item.tenant == tenant
    return item.tenant is None and item.user is not None and item.user == key.principal.user


def _out(item: ApprovalRequest) -> dict[str, Any]:
    return item.as_dict()
