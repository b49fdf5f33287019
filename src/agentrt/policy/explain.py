"""Explanations: which rule decides a call, which limits and budgets apply, and how much is left.

What ``agentrt policy check`` prints. Reading counters never changes them:
an explanation holds nothing and counts no request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from agentrt.calls.principal import Principal
from agentrt.models import ModelSpec
from agentrt.policy.backends.base import PolicyBackend
from agentrt.policy.budgets import Budget, PeriodClock
from agentrt.policy.compiled import CompiledPolicy, budget_key, window_key
from agentrt.policy.limits import Limit, window_retry_after
from agentrt.policy.reservation import usd
from agentrt.policy.rules import RuleTrace, trace, trace_tool

__all__ = ["BudgetStatus", "Explanation", "LimitStatus", "explain", "explain_tool"]


@dataclass(frozen=True, slots=True)
class LimitStatus:
    """One rate limit that applies, with its window as it stands.

    ``requests_left``/``tokens_left`` are the headroom (``None``: the limit has
    no rpm/tpm). ``next_request_in`` is the seconds until one more request fits
    the rpm (0 when it fits now).
    """

    limit: str
    id: str
    scope: str
    scope_key: str
    rpm: int | None
    tpm: int | None
    requests: int
    tokens: int
    requests_left: int | None
    tokens_left: int | None
    next_request_in: float


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget that applies, with its counter for the current period (costs in USD)."""

    budget: str
    id: str
    scope: str
    scope_key: str
    period: str
    max_tokens: int | None
    max_cost: float | None
    used_tokens: int
    used_cost: float
    reserved_tokens: int
    reserved_cost: float
    remaining_tokens: int | None
    remaining_cost: float | None
    period_start: datetime | None
    resets_at: datetime | None
    warn_at: float


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything the policy would do with a call, without making it.

    ``allowed``/``rule``/``reason`` are the rules' verdict (``rule`` is ``None``
    when ``policies.default`` decides); ``rules`` traces every rule tried, up to
    the one that matched. ``notes`` lists what else would refuse the call
    whatever the counters say (a cost budget on a model without a price).
    """

    user: str | None
    tenant: str | None
    api_key: str | None
    model: str
    provider: str
    operation: str
    allowed: bool
    rule: str | None
    reason: str | None
    default: str
    rules: tuple[RuleTrace, ...]
    max_input_tokens: int | None
    max_output_tokens: int | None
    limits: tuple[LimitStatus, ...]
    budgets: tuple[BudgetStatus, ...]
    backend: str
    notes: tuple[str, ...] = ()
    approval_required: bool = False
    """A tool call the allowing rule makes wait for a person's approval."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON (datetimes as ISO 8601 text)."""
        plain: dict[str, Any] = _plain(asdict(self))
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def explain(
    policy: CompiledPolicy,
    backend: PolicyBackend,
    principal: Principal,
    model: ModelSpec,
    operation: str,
    now: float,
) -> Explanation:
    """Explain a call of ``principal`` to ``model`` at ``now`` under ``policy``, reading ``backend``'s counters."""
    route = policy.route(principal, model, operation)
    limits, budgets = await _statuses(route.limits, route.budgets, backend, now)
    notes = []
    if route.needs_price is not None and model.pricing is None:
        notes.append(
            f"model {model.name!r} has no known price, so every call is denied under the cost budget "
            f"{route.needs_price.label}: set models.{model.name}.pricing"
        )
    verdict = route.verdict
    return Explanation(
        principal.user,
        principal.tenant,
        principal.api_key,
        model.name,
        model.provider,
        operation,
        verdict.allowed,
        verdict.rule,
        verdict.reason,
        policy.default,
        tuple(trace(policy.rules, principal, model, operation)),
        policy.max_input_tokens,
        policy.max_output_tokens,
        limits,
        budgets,
        backend.name,
        tuple(notes),
    )


async def explain_tool(
    policy: CompiledPolicy, backend: PolicyBackend, principal: Principal, tool: str, now: float
) -> Explanation:
    """Explain a call of ``tool`` (full name) by ``principal``: ``model`` holds the tool, ``provider`` its
    toolkit, ``operation`` is ``tool``. Budgets count the call only when the tool has a configured cost."""
    route = policy.tool_route(principal, tool)
    limits, budgets = await _statuses(route.limits, route.budgets, backend, now)
    verdict = route.verdict
    return Explanation(
        principal.user,
        principal.tenant,
        principal.api_key,
        tool,
        tool.partition(".")[0] if "." in tool else "",
        "tool",
        verdict.allowed,
        verdict.rule,
        verdict.reason,
        policy.default,
        tuple(trace_tool(policy.rules, principal, tool)),
        None,
        None,
        limits,
        budgets,
        backend.name,
        approval_required=verdict.approval,
    )


async def _statuses(
    route_limits: tuple[tuple[Limit, str], ...],
    route_budgets: tuple[tuple[Budget, str, PeriodClock], ...],
    backend: PolicyBackend,
    now: float,
) -> tuple[tuple[LimitStatus, ...], tuple[BudgetStatus, ...]]:
    """The windows and budget counters of a route as they stand at ``now``."""
    windows = [window_key(limit, scope) for limit, scope in route_limits]
    periods = [clock.bounds(now) for _, _, clock in route_budgets]
    budget_keys = [
        budget_key(budget, scope, start) for (budget, scope, _), (start, _) in zip(route_budgets, periods, strict=True)
    ]
    snapshot = await backend.snapshot(windows, budget_keys, now)
    limits = []
    for (limit, scope), key in zip(route_limits, windows, strict=True):
        window = snapshot.windows[key]
        _, wait = window_retry_after(window.entries, now, limit.rpm, None, 0)
        limits.append(
            LimitStatus(
                limit.label,
                limit.id,
                limit.scope,
                scope,
                limit.rpm,
                limit.tpm,
                window.requests,
                window.tokens,
                None if limit.rpm is None else max(limit.rpm - window.requests, 0),
                None if limit.tpm is None else max(limit.tpm - window.tokens, 0),
                wait or 0.0,
            )
        )
    budgets = []
    for (budget, scope, clock), (start, end), key in zip(route_budgets, periods, budget_keys, strict=True):
        counter = snapshot.budgets[key]
        held_tokens = counter.used_tokens + counter.reserved_tokens
        held_cost = counter.used_cost + counter.reserved_cost
        budgets.append(
            BudgetStatus(
                budget.label,
                budget.id,
                budget.scope,
                scope,
                budget.period,
                budget.max_tokens,
                budget.max_cost_usd,
                counter.used_tokens,
                usd(counter.used_cost),
                counter.reserved_tokens,
                usd(counter.reserved_cost),
                None if budget.max_tokens is None else max(budget.max_tokens - held_tokens, 0),
                None if budget.max_cost is None else usd(max(budget.max_cost - held_cost, 0)),
                None if budget.period == "total" else datetime.fromtimestamp(start, clock.tz),
                None if end is None else datetime.fromtimestamp(end, clock.tz),
                budget.warn_at,
            )
        )
    return tuple(limits), tuple(budgets)
