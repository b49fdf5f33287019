"""The one governed path of every tool call: policy, approval, execution with a timeout, audit, metrics, span.

::

    governor.run(name, arguments, execute, principal=..., request_id=..., settings=...)
      -> span ``execute_tool {name}`` (child of the model call that asked, when there is one)
      -> policy: rules (tools: globs, operation tool), tool limits (rpm), the tool's cost on budgets
             denied -> "error: ... denied by rule X" (the model reads it; nothing raised)
      -> approval, when the tool or the allowing rule requires it: parked until approved,
             rejected or timed out; rejected/timed out -> the tool's error text
      -> execute(arguments, timeout): the source enforces the timeout
      -> settle the cost (the tool ran) or release it (it did not)
      -> one audit row (decision, outcome, duration, redacted arguments, request id), metrics, log line

Tool calls asked by a model (the tool loop), made by hand (``rt.tools.call``,
``agentrt tools call``) and made by MCP clients of our server all come here.
Only a cancellation is raised (after its audit row); every other end is a
:class:`~agentrt.tools.ToolOutput`, ``is_error`` set when the call did not succeed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from agentrt.calls.principal import ANONYMOUS, Principal, new_request_id
from agentrt.errors import PolicyDenied, PolicyError, ToolArgumentsError, ToolError
from agentrt.store.audit import AuditRecord
from agentrt.tools._approvals import ApprovalDecision, ApprovalRequest, Approvals
from agentrt.tools._source import ToolOutput

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from agentrt.logging._redact import RedactSecrets
    from agentrt.observability.tracing import Tracing
    from agentrt.policy.tool_calls import ToolAdmission
    from agentrt.store import AuditTrail
    from agentrt.tools._governance_metrics import ToolMetrics

__all__ = ["DEFAULT_TOOL_TIMEOUT", "Execute", "GovernedSettings", "ToolGovernor", "ToolSettingsLookup"]

DEFAULT_TOOL_TIMEOUT = 60.0

Execute = Callable[[Mapping[str, Any], float | None], Awaitable[ToolOutput]]
"""Runs the tool for real: ``(arguments, timeout seconds) -> ToolOutput``; raises on failure, and
``TimeoutError`` when the timeout passes (the sources enforce it, so it is not wrapped twice)."""

REDACTED = "[REDACTED]"

_NOT_RUN = frozenset({"bad_arguments", "unknown_tool"})

_log = structlog.get_logger("agentrt.tools")


@dataclass(frozen=True, slots=True)
class GovernedSettings:
    """What governs one tool: ``approval`` required, ``cost`` (USD) per call, ``timeout``, ``secret_fields``.

    ``config.tools[toolkit].settings_for(tool)`` gives these for a configured tool; a Python tool passed
    to one call gets the defaults (no approval, no cost, 60 s).
    """

    approval: bool = False
    cost: float | None = None
    timeout: float | None = DEFAULT_TOOL_TIMEOUT
    secret_fields: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Any) -> GovernedSettings:
        """From the config's ``ToolSettings`` (``approval: "required" | "never"``, cost, timeout, secret_fields)."""
        return cls(
            approval=getattr(settings, "approval", "never") == "required",
            cost=getattr(settings, "cost", None),
            timeout=getattr(settings, "timeout", DEFAULT_TOOL_TIMEOUT),
            secret_fields=frozenset(getattr(settings, "secret_fields", ())),
        )


DEFAULT_SETTINGS = GovernedSettings()


class ToolSettingsLookup:
    """The governed settings of configured tools by full name, from the ``tools`` section; swapped on reload."""

    def __init__(self, toolkits: Mapping[str, Any]) -> None:
        self._toolkits = dict(toolkits)
        self._cache: dict[str, GovernedSettings] = {}

    def __call__(self, name: str) -> GovernedSettings:
        found = self._cache.get(name)
        if found is None:
            toolkit, _, tool = name.partition(".")
            section = self._toolkits.get(toolkit)
            found = DEFAULT_SETTINGS if section is None or not tool else GovernedSettings.of(section.settings_for(tool))
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[name] = found
        return found


class ToolGovernor:
    """Governs tool calls for one runtime (or, bare, for a pipeline used without one).

    ``policy`` is the runtime's policy hook: when it can ``admit_tool`` (the
    :class:`~agentrt.policy.PolicyEngine`), tool rules, limits and budgets apply;
    otherwise every call is allowed. ``approvals`` parks calls that need a yes.
    ``audit``, ``metrics``, ``tracing`` and ``redact`` are optional.
    """

    def __init__(
        self,
        *,
        policy: object | None = None,
        approvals: Approvals | None = None,
        audit: AuditTrail | None = None,
        metrics: ToolMetrics | None = None,
        tracing: Tracing | None = None,
        redact: RedactSecrets | None = None,
    ) -> None:
        # The PolicyEngine (duck-typed: the pipeline's AllowAll has no tool admission; then all is allowed).
        self.policy: Any = policy if hasattr(policy, "admit_tool") else None
        self.approvals = approvals if approvals is not None else Approvals()
        self.audit = audit
        self.metrics = metrics
        self.tracing = tracing if tracing is not None and tracing.enabled else None
        self.redact = redact
        self.settings_lookup: Callable[[str], GovernedSettings] | None = None
        """The settings of a configured tool by full name (the runtime sets it from the ``tools`` section)."""

    def reconfigure(self, toolkits: Mapping[str, Any]) -> None:
        """A new ``tools`` section: each tool's approval, cost, timeout and secret fields from now on."""
        self.settings_lookup = ToolSettingsLookup(toolkits)

    def settings_for(self, name: str) -> GovernedSettings:
        """The governance of tool ``name`` (full name): its configured settings, else the defaults."""
        lookup = self.settings_lookup
        return DEFAULT_SETTINGS if lookup is None else lookup(name)

    async def run(
        self,
        name: str,
        arguments: Mapping[str, Any],
        execute: Execute,
        *,
        principal: Principal | None = None,
        request_id: str | None = None,
        settings: GovernedSettings = DEFAULT_SETTINGS,
        timeout: float | None = None,
        call_id: str | None = None,
        parent: Context | None = None,
    ) -> ToolOutput:
        """Run one tool call through the policy, an approval when one is needed, and the tool itself.

        ``timeout`` (seconds) overrides the tool's configured one. ``parent`` is the
        OpenTelemetry context of the model call that asked (the span's parent).
        """
        principal = principal or ANONYMOUS
        if self.tracing is None:
            return await self._run(name, arguments, execute, principal, request_id, settings, timeout, None)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
        }
        if call_id is not None:
            attributes["gen_ai.tool.call.id"] = call_id
        token = None
        if parent is not None:  # the model call's span ended before its tools run: make it the parent again
            from opentelemetry import context

            token = context.attach(parent)
        try:
            with self.tracing.span(f"execute_tool {name}", attributes) as span:
                return await self._run(name, arguments, execute, principal, request_id, settings, timeout, span)
        finally:
            if token is not None:
                from opentelemetry import context

                context.detach(token)

    async def _run(
        self,
        name: str,
        arguments: Mapping[str, Any],
        execute: Execute,
        principal: Principal,
        request_id: str | None,
        settings: GovernedSettings,
        timeout: float | None,
        span: Any,
    ) -> ToolOutput:
        started = perf_counter()
        ts = time.time()
        request_id = request_id or new_request_id()
        story = _Story(name, principal, request_id, ts)
        story.secret_fields = settings.secret_fields
        try:
            output = await self._govern(story, arguments, execute, settings, timeout)
        except asyncio.CancelledError:
            story.outcome = "cancelled"
            raise
        finally:
            story.seconds = perf_counter() - started
            self._record(story, arguments, settings, span)
        return output

    async def _govern(
        self,
        story: _Story,
        arguments: Mapping[str, Any],
        execute: Execute,
        settings: GovernedSettings,
        timeout: float | None,
    ) -> ToolOutput:
        admission: ToolAdmission | None = None
        if self.policy is not None:
            try:
                admission = await self.policy.admit_tool(
                    story.principal, story.tool, cost=settings.cost, request_id=story.request_id
                )
            except PolicyError as err:
                story.decision, story.outcome = "deny", "denied"
                story.rule = err.rule if isinstance(err, PolicyDenied) else getattr(err, "limit", None)
                story.reason = str(err)
                if isinstance(err, PolicyDenied):  # the message names the rule: "rule 'x' denies the tool call ..."
                    return ToolOutput(f"error: {err}", is_error=True)
                return ToolOutput(f"error: the tool call {story.tool!r} was refused: {err}", is_error=True)
            except Exception as err:  # the counters cannot be reached: fail closed, and say so in the log
                story.decision, story.outcome = "deny", "policy_unavailable"
                story.reason = f"the policy backend failed: {type(err).__name__}"
                _log.exception("tool_policy_failed", tool=story.tool, request_id=story.request_id)
                return ToolOutput(
                    f"error: the tool call {story.tool!r} could not be checked against the policy "
                    "(its backend failed), so it did not run",
                    is_error=True,
                )
            story.rule = admission.rule
        reservation = None if admission is None else admission.reservation
        ran = False
        try:
            if settings.approval or (admission is not None and admission.approval):
                decision = await self._approval(story, arguments, admission)
                story.decision = decision.label
                story.approved_by, story.reason = decision.by, decision.reason
                if not decision.approved:
                    story.outcome = decision.label
                    return ToolOutput(_refusal_text(story.tool, decision), is_error=True)
            limit = settings.timeout if timeout is None else timeout
            ran = True
            return await self._execute(story, arguments, execute, limit)
        finally:
            # A call refused before the tool started (bad arguments, no such tool) costs nothing.
            story.charged = ran and story.outcome not in _NOT_RUN
            if reservation is not None and self.policy is not None:
                await self._account(reservation, story.charged)

    async def _approval(
        self, story: _Story, arguments: Mapping[str, Any], admission: ToolAdmission | None
    ) -> ApprovalDecision:
        principal = story.principal
        request = ApprovalRequest(
            id=self.approvals.new_id(),
            tool=story.tool,
            arguments=story.redacted(arguments, self),
            user=principal.user,
            tenant=principal.tenant,
            api_key=principal.api_key,
            request_id=story.request_id,
            rule=None if admission is None or not admission.approval else admission.rule,
        )
        story.approval_id = request.id
        _log.info("tool_approval_requested", tool=story.tool, approval_id=request.id, request_id=story.request_id)
        section = getattr(self.policy, "section", None)  # policies.approval_timeout, as reloaded
        return await self.approvals.request(request, timeout=getattr(section, "approval_timeout", None))

    async def _execute(
        self, story: _Story, arguments: Mapping[str, Any], execute: Execute, limit: float | None
    ) -> ToolOutput:
        try:
            output = await execute(arguments, limit)
        except TimeoutError:
            story.outcome = "timeout"
            within = f"within {limit:g}s" if limit is not None else "in time"
            return ToolOutput(f"error: the tool {story.tool!r} did not answer {within}", is_error=True)
        except ToolArgumentsError as err:
            story.outcome = "bad_arguments"
            problems = "; ".join(err.problems) or str(err)
            return ToolOutput(f"error: the arguments did not validate: {problems}", is_error=True)
        except ToolError as err:  # e.g. a tool name the model made up
            story.outcome = "unknown_tool"
            return ToolOutput(f"error: {err}", is_error=True)
        except Exception as err:  # the model is told, so it can try again or explain; the log keeps it visible
            story.outcome = "failed"
            reason = f"{type(err).__name__}: {err}"  # the audit row keeps it: redacted as a log line would be
            story.reason = reason if self.redact is None else self.redact.redact_text(reason)
            _log.warning("tool_failed", tool=story.tool, error_type=type(err).__name__, error=str(err))
            return ToolOutput(f"error: the tool raised {type(err).__name__}: {err}", is_error=True)
        story.outcome = "error" if output.is_error else "ok"
        return output

    async def _account(self, reservation: Any, ran: bool) -> None:
        """Charge the cost of a tool that ran; give back the hold of one that did not. Never raises."""
        try:
            if ran:
                await self.policy.settle_tool(reservation)
            else:
                await self.policy.release(reservation)
        except Exception:  # the call is over; its accounting failing must not turn it into an error
            _log.exception("tool_policy_settle_failed", tool=reservation.model, request_id=reservation.request_id)

    def _record(self, story: _Story, arguments: Mapping[str, Any], settings: GovernedSettings, span: Any) -> None:
        duration_ms = round(story.seconds * 1000, 3)
        if span is not None:
            span.set_attribute("agentrt.tool.decision", story.decision)
            span.set_attribute("agentrt.tool.outcome", story.outcome)
            if story.approval_id is not None:
                span.set_attribute("agentrt.tool.approval_id", story.approval_id)
            if story.outcome != "ok":
                span.set_attribute("error.type", f"tool_{story.outcome}")
        if self.metrics is not None:
            self.metrics.record(story.tool, story.decision, story.outcome, story.seconds)
        if self.audit is not None:
            self._audit(story, arguments, settings, duration_ms)
        _log.info(
            "tool_call",
            tool=story.tool,
            decision=story.decision,
            outcome=story.outcome,
            request_id=story.request_id,
            latency_ms=duration_ms,
        )

    def _audit(
        self, story: _Story, arguments: Mapping[str, Any], settings: GovernedSettings, duration_ms: float
    ) -> None:
        detail: dict[str, Any] = {"arguments": story.redacted(arguments, self)}
        if story.approval_id is not None:
            detail["approval_id"] = story.approval_id
            detail["approved_by" if story.decision == "approved" else "decided_by"] = story.approved_by
        if settings.cost is not None:
            detail["cost"] = settings.cost if story.charged else 0.0
        principal = story.principal
        try:
            self.audit.record(  # type: ignore[union-attr]
                AuditRecord(
                    ts=story.ts,
                    request_id=story.request_id,
                    user=principal.user,
                    tenant=principal.tenant,
                    api_key=principal.api_key,
                    operation="tool",
                    decision=story.decision,  # type: ignore[arg-type]
                    rule=story.rule,
                    reason=story.reason,
                    tool=story.tool,
                    outcome=story.outcome,
                    duration_ms=duration_ms,
                    detail=orjson.dumps(detail, default=str).decode(),
                )
            )
        except Exception:  # an audit sink that fails must not fail the call; it is loud in the log
            _log.exception("tool_audit_failed", tool=story.tool, request_id=story.request_id)


class _Story:
    """What happened to one tool call, filled in as it goes; becomes its audit row, metrics and log line."""

    __slots__ = (
        "_redacted",
        "approval_id",
        "approved_by",
        "charged",
        "decision",
        "outcome",
        "principal",
        "reason",
        "request_id",
        "rule",
        "seconds",
        "secret_fields",
        "tool",
        "ts",
    )

    def __init__(self, tool: str, principal: Principal, request_id: str, ts: float) -> None:
        self.tool = tool
        self.principal = principal
        self.request_id = request_id
        self.ts = ts
        self.decision = "allow"
        self.outcome = "ok"
        self.rule: str | None = None
        self.reason: str | None = None
        self.approval_id: str | None = None
        self.approved_by: str | None = None
        self.charged = False
        self.seconds = 0.0
        self.secret_fields: frozenset[str] = frozenset()
        self._redacted: dict[str, Any] | None = None

    def redacted(self, arguments: Mapping[str, Any], governor: ToolGovernor) -> dict[str, Any]:
        """The arguments with secret fields (and what the logging redaction marks) replaced; made once."""
        if self._redacted is None:
            self._redacted = redact_arguments(arguments, self.secret_fields, governor.redact)
        return self._redacted


def redact_arguments(
    arguments: Mapping[str, Any], secret_fields: frozenset[str], redact: RedactSecrets | None
) -> dict[str, Any]:
    """``arguments`` with every ``secret_fields`` key hidden at any depth, then the logging redaction applied."""

    def hide(value: Any, depth: int) -> Any:
        if depth > 8:
            return value
        if isinstance(value, Mapping):
            return {
                str(key): REDACTED if key in secret_fields else hide(item, depth + 1) for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [hide(item, depth + 1) for item in value]
        return value

    hidden: dict[str, Any] = hide(arguments, 0) if secret_fields else dict(arguments)
    if redact is not None:
        hidden = redact.redact_value(hidden)
    return hidden


def _refusal_text(tool: str, decision: ApprovalDecision) -> str:
    if decision.timed_out:
        return f"error: the tool call {tool!r} was not approved in time ({decision.reason}); it did not run"
    by = f" by {decision.by}" if decision.by else ""
    because = f": {decision.reason}" if decision.reason else ""
    return f"error: the tool call {tool!r} was rejected{by}{because}; it did not run"
