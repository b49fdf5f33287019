"""``rt.tools``: the configured tools, called through governance, and the approvals of the calls that wait.

::

    rt.tools.list()                                   # every ToolInfo of the registry
    out = await rt.tools.call("github.search", {"q": "agentrt"}, user="alice", tenant="acme")
    for request in rt.tools.pending(): ...            # tool calls parked for approval
    rt.tools.approve(request.id, by="bob")            # or reject(id, "why", by="bob")
    async with rt.tools.subscribe() as events: ...    # requested / approved / rejected / timeout

``call`` runs the same governed path as a model's tool call (policy, approval,
timeout, audit row, metrics, span) and returns a :class:`ToolOutput`: a
denial, a rejection, a timeout or the tool's own failure is an output with
``is_error`` set and an ``error: ...`` text, as a model would be told. Only a
name that no configured tool has raises (:class:`~agentrt.errors.ToolError`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentrt.calls.principal import Principal
from agentrt.calls.principal import request_id as current_request_id
from agentrt.errors import ToolError

if TYPE_CHECKING:
    from agentrt.services import ServiceContainer
    from agentrt.tools._approvals import ApprovalRequest, ApprovalSubscription
    from agentrt.tools._governance import ToolGovernor
    from agentrt.tools._source import SourceStatus, ToolInfo, ToolOutput

__all__ = ["ToolsHandle"]


class ToolsHandle:
    """The tools of a running runtime. Cheap to make: ``rt.tools`` builds one per access."""

    __slots__ = ("_governor", "_services")

    def __init__(self, governor: ToolGovernor, services: ServiceContainer | None = None) -> None:
        self._governor = governor
        self._services = services

    @property
    def governor(self) -> ToolGovernor:
        return self._governor

    # --- the registry ------------------------------------------------------------------

    @property
    def registry(self) -> Any:
        """The tool registry of the ``tools`` section (``agentrt.tools.registry.ToolRegistry``)."""
        if self._services is None:
            raise ToolError("no tool registry: this handle was made without the runtime's services")
        from agentrt.tools.registry import ToolRegistry

        try:
            return self._services.get(ToolRegistry)
        except Exception as err:
            raise ToolError(
                "the tool registry is not running: declare toolkits in the tools section of the configuration"
            ) from err

    def list(self) -> list[ToolInfo]:
        """Every configured tool, toolkit by toolkit."""
        return list(self.registry.list())

    def get(self, name: str) -> ToolInfo:
        """The tool ``toolkit.tool``; :class:`ToolError` naming the tools that exist when there is none."""
        info: ToolInfo = self.registry.get(name)
        return info

    def select(self, patterns: Sequence[str]) -> builtins.list[ToolInfo]:
        """The tools matching names or globs (``github.search_*``)."""
        return list(self.registry.select(patterns))

    def status(self) -> dict[str, SourceStatus]:
        """Each toolkit's source state (``ready``, ``restarting``, ``failed`` ...)."""
        return dict(self.registry.status())

    def subscribe_changes(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` after the tool list changes (an MCP server's list, a reload): the registry's hook."""
        self.registry.subscribe_changes(on_change)

    # --- governed calls ----------------------------------------------------------------

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        user: str | None = None,
        tenant: str | None = None,
        principal: Principal | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> ToolOutput:
        """Call the configured tool ``name`` (``toolkit.tool``) through policy, approval, audit, metrics and a span.

        ``principal`` (or ``user``/``tenant``) is who the call is for; ``request_id`` joins its audit row to
        a model call's (default: the current request's, else a new one); ``timeout`` overrides the tool's.
        """
        if principal is not None and (user is not None or tenant is not None):
            raise ValueError("pass either principal= or user=/tenant=, not both")
        registry = self.registry
        info = registry.get(name)  # an unknown name raises ToolError listing the known ones
        full_name: str = info.full_name

        async def execute(args: Mapping[str, Any], limit: float | None) -> ToolOutput:
            output: ToolOutput = await registry.call(full_name, args, timeout=limit)
            return output

        governor = self._governor
        return await governor.run(
            full_name,
            dict(arguments or {}),
            execute,
            principal=principal if principal is not None else Principal.of(user, tenant),
            request_id=request_id or current_request_id.get(),
            settings=governor.settings_for(full_name),
            timeout=timeout,
        )

    # --- approvals ---------------------------------------------------------------------

    def pending(self, *, tenant: str | None = None) -> builtins.list[ApprovalRequest]:
        """The tool calls waiting for approval, oldest first (only ``tenant``'s when given)."""
        return self._governor.approvals.pending(tenant=tenant, all_tenants=tenant is None)

    def approve(self, approval_id: str, *, by: str | None = None) -> ApprovalRequest:
        """Let the parked call ``approval_id`` run; ``by`` (who approved) goes to the audit row."""
        return self._governor.approvals.approve(approval_id, by=by)

    def reject(self, approval_id: str, reason: str | None = None, *, by: str | None = None) -> ApprovalRequest:
        """Refuse the parked call: the model (or caller) gets ``reason`` as the tool's error."""
        return self._governor.approvals.reject(approval_id, reason, by=by)

    def subscribe(self, buffer: int = 256) -> ApprovalSubscription:
        """Approval events from now on: ``requested``, ``approved``, ``rejected``, ``timeout``."""
        return self._governor.approvals.subscribe(buffer)
