"""Tool calls under the policy: what :class:`~agentrt.policy.PolicyEngine` does for a tool call.

::

    admit_tool(principal, tool, cost)  the rules (first match; an allow rule may require approval),
                                       the tool limits' rpm and the tool's cost on the budgets counting it
    settle_tool(reservation)           the tool ran: its cost is charged (release: it did not)
    explain_tool(principal, tool)      what ``agentrt policy check --tool`` prints

A mixin of the engine (which keeps the policy, the backend, the clock and the
decision counts); apart from it so that each module stays about one thing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from agentrt.calls.principal import Principal
from agentrt.errors import BudgetExceeded, PolicyDenied, RateLimitExceeded
from agentrt.policy.backends.base import PolicyBackend
from agentrt.policy.compiled import CompiledPolicy, ToolRoute
from agentrt.policy.explain import Explanation, explain_tool
from agentrt.policy.reservation import Denial, Reservation, cost_units_ceil, usd

__all__ = ["ToolAdmission", "ToolCalls"]


@dataclass(frozen=True, slots=True)
class ToolAdmission:
    """A tool call the policy admitted: what it holds, the rule that allowed it, and whether it needs approval."""

    reservation: Reservation
    rule: str | None
    approval: bool


class ToolCalls:
    """The tool-call half of the policy engine."""

    _policy: CompiledPolicy
    backend: PolicyBackend
    _clock: Callable[[], float]
    _decisions: dict[tuple[str, str], int]
    _ids: itertools.count[int]
    _id_prefix: str

    def _check_open(self) -> None:
        raise NotImplementedError  # the engine's: open, or a RuntimeStateError saying why not

    async def admit_tool(
        self, principal: Principal, tool: str, *, cost: float | None = None, request_id: str | None = None
    ) -> ToolAdmission:
        """Admit a call of ``tool`` (full name) or raise ``PolicyDenied`` / ``RateLimitExceeded`` /
        ``BudgetExceeded``. ``cost`` (USD, the tool's configured cost) is held on the budgets that count it.

        Decisions are counted in :attr:`decisions` but not handed to ``on_decision``: the governed
        tool call writes one audit row with its whole story (decision, approval, outcome).
        """
        self._check_open()
        policy = self._policy
        route = policy.tool_route(principal, tool)
        now = self._clock()
        verdict = route.verdict
        who = verdict.rule or "default"
        if not verdict.allowed:
            self._count(who, "deny")
            rule = f"rule {verdict.rule!r}" if verdict.rule is not None else "policies.default (deny; no rule matched)"
            because = f": {verdict.reason}" if verdict.reason else ""
            message = f"{rule} denies the tool call {tool!r} for {_describe(principal)}{because}"
            raise PolicyDenied(message, rule=who, reason=verdict.reason)
        units = cost_units_ceil(cost) if cost else 0
        charges = route.budget_route.budget_charges(now) if (units and route.budgets) else ()
        hold_id = self._id_prefix + str(next(self._ids))
        reservation = Reservation(
            hold_id,
            now,
            now + policy.reservation_ttl,
            0,
            units,
            route.windows,
            charges,
            None,
            tool,
            request_id=request_id or hold_id,
            principal=principal,
            operation="tool",
            provider=tool.partition(".")[0] if "." in tool else "",
        )
        if reservation.windows or reservation.budgets:
            result = await self.backend.reserve(reservation, now)
            if isinstance(result, Denial):
                self._deny_tool_by_counter(tool, now, route, reservation, result)
        self._count(who, "allow")
        return ToolAdmission(reservation, verdict.rule, verdict.approval)

    async def settle_tool(self, reservation: Reservation) -> None:
        """The tool ran: its cost (what ``admit_tool`` held) is charged. A second settle or release is a no-op."""
        held = _held(reservation)
        if held is None:
            return
        self._check_open()
        held.state = "settled"
        if held.windows or held.budgets:
            await self.backend.settle(held, 0, held.cost, self._clock())

    def _count(self, who: str, outcome: str) -> None:
        self._decisions[(who, outcome)] = self._decisions.get((who, outcome), 0) + 1

    def _deny_tool_by_counter(
        self, tool: str, now: float, route: ToolRoute, reservation: Reservation, denial: Denial
    ) -> NoReturn:
        if denial.kind in ("rpm", "tpm"):
            limit, scope = route.limits[denial.index]
            self._count(limit.label, "deny")
            message = (
                f"rate limit {limit.label} for {scope}: {denial.used} of {limit.rpm} calls of tools "
                f"used in the last 60s (tool {tool!r})"
            )
            if denial.retry_after is not None:
                message += f"; retry in {denial.retry_after:.2f}s"
            raise RateLimitExceeded(message, scope=scope, limit=limit.label, retry_after=denial.retry_after)
        budget, scope, clock = route.budgets[denial.index]
        self._count(budget.label, "deny")
        end = clock.bounds(now)[1]
        resets = None if end is None else datetime.fromtimestamp(end, clock.tz)
        message = (
            f"budget {budget.label} for {scope}: ${usd(denial.used + denial.reserved):.6g} of "
            f"${budget.max_cost_usd:g} used or held, and the tool call {tool!r} costs ${usd(reservation.cost):.6g}"
        )
        if resets is not None:
            message += f"; it resets at {resets.isoformat()}"
        raise BudgetExceeded(message, scope=scope, budget=budget.label, resets_at=resets)

    async def explain_tool(self, principal: Principal, tool: str) -> Explanation:
        """Which rule decides a call of ``tool`` (full name), which tool limits and budgets it counts against."""
        self._check_open()
        return await explain_tool(self._policy, self.backend, principal, tool, self._clock())


def _held(reservation: object | None) -> Reservation | None:
    if reservation is None:
        return None
    if not isinstance(reservation, Reservation):
        raise TypeError(f"expected the Reservation that PolicyEngine.admit returned, got {type(reservation).__name__}")
    return reservation if reservation.state == "held" else None


def _describe(principal: Principal) -> str:
    parts: list[Any] = []
    if principal.user is not None:
        parts.append(f"user {principal.user!r}")
    if principal.tenant is not None:
        parts.append(f"tenant {principal.tenant!r}")
    if principal.api_key is not None:
        parts.append(f"api key {principal.api_key!r}")
    return ", ".join(parts) or "an anonymous caller"
