"""One generation of the ``policies`` section, compiled for the hot path.

``reconfigure`` swaps a whole :class:`CompiledPolicy` in at once, so a call
sees either the old policy or the new one. Counters live in the backend under
the stable ids of limits and budgets, so a new generation keeps their counts.

A :class:`Route` is what a (principal, model, operation) triple needs on
every call: the rules' verdict and the windows and budgets it counts against,
with their scope keys. Routes are cached: the second call of the same user on
the same model costs one dict lookup. A :class:`ToolRoute` is the same for a
(principal, tool) pair: the verdict (with its approval flag), the tool limits'
windows and the budgets that count the tool's cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from agentrt.calls.principal import Principal
from agentrt.config import PoliciesSection
from agentrt.models import ModelSpec
from agentrt.policy.budgets import Budget, PeriodClock, compile_budgets, zone
from agentrt.policy.limits import Limit, compile_limits
from agentrt.policy.reservation import BudgetCharge, WindowCharge
from agentrt.policy.rules import Rule, Verdict, decide, decide_tool
from agentrt.policy.scopes import scope_key, tool_scope_key

__all__ = ["CompiledPolicy", "Route", "ToolRoute", "budget_key", "window_key"]

_ROUTE_CACHE_SIZE = 8192

RouteKey = tuple[Principal, str, str, frozenset[str], tuple[str, ...], str]


def window_key(limit: Limit, scope: str) -> str:
    """The backend key of the window of ``limit`` for scope key ``scope``."""
    return f"w:{limit.id}:{scope}"


def budget_key(budget: Budget, scope: str, period_start: float) -> str:
    """The backend key of the counter of ``budget`` for ``scope`` in the period starting at ``period_start``."""
    return f"b:{budget.id}:{scope}:{int(period_start)}"


@dataclass(slots=True)
class Route:
    """What one (principal, model, operation) is decided by and counts against."""

    verdict: Verdict
    limits: tuple[tuple[Limit, str], ...]
    windows: tuple[WindowCharge, ...]
    budgets: tuple[tuple[Budget, str, PeriodClock], ...]
    needs_price: Budget | None
    """The first budget with a cost maximum: a model without a price cannot be admitted under it."""
    clips: bool = False
    """A budget of the route has ``clip_output``: a refused call may be admitted with a smaller output."""
    # The budget charges of the current period, reused until a period of one of them ends.
    _charges: tuple[BudgetCharge, ...] = field(default=())
    _charges_from: float = 0.0
    _charges_until: float = -1.0

    def budget_charges(self, now: float) -> tuple[BudgetCharge, ...]:
        """The budget counters a call at ``now`` holds on (one per budget, for the current period)."""
        if self._charges_from <= now < self._charges_until:
            return self._charges
        charges = []
        start_max, end_min = 0.0, float("inf")
        for budget, scope, clock in self.budgets:
            start, end = clock.bounds(now)
            start_max = max(start_max, start)
            if end is not None:
                end_min = min(end_min, end)
            key = budget_key(budget, scope, start)
            charges.append(BudgetCharge(key, budget.max_tokens, budget.max_cost, clock.keep_until(now)))
        self._charges = tuple(charges)
        self._charges_from, self._charges_until = start_max, end_min
        return self._charges


@dataclass(slots=True)
class ToolRoute:
    """What one (principal, tool) is decided by and counts against: a route without tokens."""

    verdict: Verdict
    limits: tuple[tuple[Limit, str], ...]
    windows: tuple[WindowCharge, ...]
    budget_route: Route
    """The budgets that count the tool's cost, as a model route's (its period cache included)."""

    @property
    def budgets(self) -> tuple[tuple[Budget, str, PeriodClock], ...]:
        return self.budget_route.budgets


class CompiledPolicy:
    """Rules, limits, budgets and caps of one ``policies`` section, ready for the hot path."""

    def __init__(self, section: PoliciesSection) -> None:
        self.section = section
        self.rules = tuple(Rule.from_section(rule) for rule in section.rules)
        self.default = section.default
        self.limits: tuple[Limit, ...] = compile_limits(section.limits)
        self.budgets: tuple[Budget, ...] = compile_budgets(section.budgets)
        self.tz: tzinfo = zone(section.timezone)
        self.clocks = {budget.id: PeriodClock(budget.period, self.tz) for budget in self.budgets}
        self.reservation_ttl = section.reservation_ttl
        self.max_input_tokens = section.max_input_tokens
        self.max_output_tokens = section.max_output_tokens
        self.counts = bool(self.limits or self.budgets)
        self._routes: dict[RouteKey, Route] = {}
        self._tool_routes: dict[tuple[Principal, str], ToolRoute] = {}
        self.counts_tools = any(limit.tools is not None for limit in self.limits) or any(
            budget.max_cost is not None and budget.models is None for budget in self.budgets
        )

    def route(self, principal: Principal, model: ModelSpec, operation: str) -> Route:
        """The (cached) route of a call."""
        key = (principal, model.name, model.provider, model.capabilities, model.aliases, operation)
        route = self._routes.get(key)
        if route is None:
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()  # many distinct principals: start over rather than grow
            route = self._routes[key] = self._build(principal, model, operation)
        return route

    def _build(self, principal: Principal, model: ModelSpec, operation: str) -> Route:
        verdict = decide(self.rules, self.default, principal, model, operation)
        limits = tuple(
            (limit, scope_key(limit.dimensions, principal, model)) for limit in self.limits if limit.applies_to(model)
        )
        windows = tuple(WindowCharge(window_key(limit, scope), limit.rpm, limit.tpm) for limit, scope in limits)
        budgets = tuple(
            (budget, scope_key(budget.dimensions, principal, model), self.clocks[budget.id])
            for budget in self.budgets
            if budget.applies_to(model)
        )
        needs_price = next((budget for budget, _, _ in budgets if budget.max_cost is not None), None)
        clips = any(budget.clip_output for budget, _, _ in budgets)
        return Route(verdict, limits, windows, budgets, needs_price, clips)

    def tool_route(self, principal: Principal, tool: str) -> ToolRoute:
        """The (cached) route of a call of ``tool`` (full name)."""
        key = (principal, tool)
        route = self._tool_routes.get(key)
        if route is None:
            if len(self._tool_routes) >= _ROUTE_CACHE_SIZE:
                self._tool_routes.clear()
            route = self._tool_routes[key] = self._build_tool(principal, tool)
        return route

    def _build_tool(self, principal: Principal, tool: str) -> ToolRoute:
        verdict = decide_tool(self.rules, self.default, principal, tool)
        limits = tuple(
            (limit, tool_scope_key(limit.dimensions, principal, tool))
            for limit in self.limits
            if limit.applies_to_tool(tool)
        )
        windows = tuple(WindowCharge(window_key(limit, scope), limit.rpm, None) for limit, scope in limits)
        budgets = tuple(
            (budget, tool_scope_key(budget.dimensions, principal, tool), self.clocks[budget.id])
            for budget in self.budgets
            if budget.applies_to_tool(tool)
        )
        return ToolRoute(verdict, limits, windows, Route(verdict, (), (), budgets, None))
