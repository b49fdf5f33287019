"""Tool governance as a runtime service: one :class:`ToolGovernor` for every tool call of the runtime.

It needs the policy (tool rules, limits, budgets), the audit trail, metrics,
tracing and the call pipeline, whose tool loop it governs from start to stop.
It takes the ``tools`` section on reload (each tool's approval, cost, timeout,
secret fields). When it stops (before the pipeline, the policy and the audit
trail it needs), every tool call still waiting for approval is rejected with
the reason ``runtime stopping``: its model turn goes on and the pipeline's
drain lets it end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog

from agentrt.calls.pipeline import CallPipeline
from agentrt.calls.policy_hook import PolicyHook
from agentrt.config import Config
from agentrt.observability import Metrics
from agentrt.observability.tracing import Tracing
from agentrt.services import service
from agentrt.store import AuditTrail
from agentrt.tools._approvals import Approvals
from agentrt.tools._governance import ToolGovernor, ToolSettingsLookup

__all__ = ["tool_governance_service"]

_log = structlog.get_logger("agentrt.tools")


def _redaction(config: Config) -> Any:
    from agentrt.logging._redact import RedactSecrets

    return RedactSecrets(secrets=config.secret_values(), keys=config.logging.redact)


@service(name="tool_governance", version="1", config_section="tools")
async def tool_governance_service(
    config: Config, policy: PolicyHook, audit: AuditTrail, metrics: Metrics, tracing: Tracing, calls: CallPipeline
) -> AsyncIterator[ToolGovernor]:
    """The governor of every tool call: policy, approvals, audit, metrics, spans."""
    tool_metrics = None
    if metrics.enabled:
        from agentrt.tools._governance_metrics import ToolMetrics

        tool_metrics = ToolMetrics(metrics.registry)
    approvals = Approvals(
        config.policies.approval_timeout, on_change=None if tool_metrics is None else tool_metrics.pending
    )
    governor = ToolGovernor(
        policy=policy,
        approvals=approvals,
        audit=audit,
        metrics=tool_metrics,
        tracing=tracing,
        redact=_redaction(config),
    )
    governor.settings_lookup = ToolSettingsLookup(config.tools)
    calls.tool_governor = governor
    try:
        yield governor
    finally:
        rejected = approvals.close()
        if rejected:
            _log.warning("tool_approvals_rejected_at_stop", count=rejected, reason="runtime stopping")
