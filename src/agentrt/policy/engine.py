"""The policy engine: rules, per-request caps, rate limits and budgets behind the call pipeline's hook.

::

    admit(admission)
      -> the rules' verdict (first match wins; else policies.default)    PolicyDenied
      -> per-request caps (max_input_tokens, max_output_tokens)          PolicyDenied
      -> one atomic check-and-hold on the backend:
           every applicable window (rpm, tpm)                           RateLimitExceeded
           every applicable budget (tokens, cost) for its period        BudgetExceeded
      -> Reservation (the worst case held everywhere)
    settle(reservation, usage, cost)   the actual usage replaces the holds
    release(reservation)               the holds are dropped

    admit_tool(principal, tool, cost)  the same for a tool call: rules (and their approval flag),
                                       the tool limits' rpm, the cost on the budgets that count it
    settle_tool(reservation)           the tool ran: its cost is charged

Every decision is counted (``decisions``) and handed to ``on_decision``.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal, NoReturn

import structlog

from agentrt.calls.policy_hook import Admission
from agentrt.calls.principal import Principal
from agentrt.config import PoliciesSection
from agentrt.errors import BudgetExceeded, PolicyDenied, RateLimitExceeded, RuntimeStateError
from agentrt.models import ModelSpec
from agentrt.policy.backends.base import PolicyBackend
from agentrt.policy.backends.memory import MemoryBackend
from agentrt.policy.budgets import Budget
from agentrt.policy.compiled import CompiledPolicy, Route
from agentrt.policy.decisions import PolicyDecision
from agentrt.policy.explain import Explanation, explain
from agentrt.policy.headroom import BudgetRefusal, output_that_fits
from agentrt.policy.reservation import (
    BudgetLevel,
    Denial,
    Reservation,
    cost_units_ceil,
    cost_units_nearest,
    usd,
)
from agentrt.policy.tool_calls import ToolAdmission, ToolCalls, _describe, _held
from agentrt.types import Usage

__all__ = ["DecisionCallback", "PolicyEngine", "ToolAdmission"]

DecisionCallback = Callable[[PolicyDecision], object]

_WARNED_MAX = 100_000  # (budget, scope, period) triples remembered as warned before starting over

_log = structlog.get_logger("agentrt.policy")


class PolicyEngine(ToolCalls):
    """Decides whether a call may run, and keeps the account of what calls use. A :class:`PolicyHook`.

    ``backend`` holds the counters (default: a :class:`MemoryBackend`);
    ``clock`` returns epoch seconds (injectable for tests); ``on_decision``
    receives every decision (an audit trail), and must not raise (it is logged
    if it does, never propagated). Open it before use (``await engine.open()``
    or ``async with``); opening twice raises, closing twice is harmless.
    """

    def __init__(
        self,
        section: PoliciesSection | None = None,
        backend: PolicyBackend | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_decision: DecisionCallback | None = None,
    ) -> None:
        self._section = section if section is not None else PoliciesSection(backend="memory")
        self._policy = CompiledPolicy(self._section)
        self.backend: PolicyBackend = backend if backend is not None else MemoryBackend()
        self._clock = clock
        self.on_decision = on_decision
        self.on_budget_level: Callable[[Budget, str, float], None] | None = None
        """Called after each admission with each budget it counts on, its scope key and the fraction used."""
        self._decisions: dict[tuple[str, str], int] = {}
        self._warned: set[str] = set()
        self._ids = itertools.count(1)
        self._id_prefix = uuid.uuid4().hex[:12] + "-"
        self._state: Literal["new", "open", "closed"] = "new"

    # --- lifetime ----------------------------------------------------------------------

    async def open(self) -> None:
        """Open the backend. Raises when already opened."""
        if self._state != "new":
            raise RuntimeStateError(f"the policy engine is already {self._state}: open it once")
        await self.backend.open()
        self._state = "open"

    async def close(self) -> None:
        """Close the backend (writing what it has pending). Harmless when already closed."""
        if self._state == "closed":
            return
        was_open = self._state == "open"
        self._state = "closed"
        if was_open:
            await self.backend.close()

    async def __aenter__(self) -> PolicyEngine:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._state != "open":
            if self._state == "new":
                raise RuntimeStateError("the policy engine is not open: `await engine.open()` or `async with` it first")
            raise RuntimeStateError("the policy engine is closed: no calls are admitted after the runtime stopped")

    @property
    def section(self) -> PoliciesSection:
        """The ``policies`` section in force."""
        return self._section

    def reconfigure(self, section: PoliciesSection) -> None:
        """Apply a new ``policies`` section at once. Counts carry over: counters are keyed by stable ids.

        Reservations made before keep settling against the counters they were
        made on. A new ``backend`` takes effect only at the next start.
        """
        if section.backend != self._section.backend:
            _log.warning(
                "policy_backend_change_needs_restart",
                backend=self.backend.name,
                hint="policies.backend changes apply when the runtime restarts; until then counting stays where it is",
            )
        self._policy = CompiledPolicy(section)
        self._section = section

    # --- the hook ----------------------------------------------------------------------

    async def admit(self, admission: Admission) -> Reservation:
        """Admit the call (returning what it holds) or raise a ``PolicyError`` saying why not."""
        self._check_open()
        policy = self._policy
        principal, model, operation = admission.principal, admission.model, admission.operation
        route = policy.route(principal, model, operation)
        now = self._clock()
        verdict = route.verdict
        if not verdict.allowed:
            self._deny_by_rule(admission, now, verdict.rule, verdict.reason)
        if policy.max_input_tokens is not None and admission.input_tokens > policy.max_input_tokens:
            self._deny_by_cap(
                admission,
                now,
                "max_input_tokens",
                f"the request has about {admission.input_tokens} input tokens, over the cap "
                f"policies.max_input_tokens={policy.max_input_tokens}: send less input",
            )
        max_output = admission.max_output_tokens
        cap = policy.max_output_tokens
        if cap is not None and max_output > cap and not admission.output_limited:
            max_output = cap  # the caller named no limit: the cap becomes the call's limit, not a refusal
        if cap is not None and max_output > cap:
            self._deny_by_cap(
                admission,
                now,
                "max_output_tokens",
                f"the request may produce up to {admission.max_output_tokens} output tokens, over the cap "
                f"policies.max_output_tokens={policy.max_output_tokens}: "
                f"pass max_output_tokens={policy.max_output_tokens} or less",
            )
        tokens = max(admission.input_tokens, 0) + max(max_output, 0)
        price = model.pricing
        cost = 0
        if route.budgets:
            if price is None:
                if route.needs_price is not None:
                    self._deny_unpriced(admission, now, route)
            else:
                cost = cost_units_ceil(price.cost(Usage(admission.input_tokens, max_output)))
        hold_id = self._id_prefix + str(next(self._ids))
        reservation = Reservation(
            hold_id,
            now,
            now + policy.reservation_ttl,
            tokens,
            cost,
            route.windows,
            route.budget_charges(now) if route.budgets else (),
            price,
            model.name,
            max_output if _counts_output(policy, route) else None,
            request_id=admission.request_id or hold_id,
            principal=principal,
            operation=operation,
            provider=model.provider,
            input_tokens=max(admission.input_tokens, 0),
        )
        if route.windows or route.budgets:
            try:
                result = await self.backend.reserve(reservation, now)
            except Exception as err:
                # Refused because the counters could not be reached: still a decision the audit trail must show.
                reason = f"the policy backend ({self.backend.name}) failed: {type(err).__name__}; see the log"
                self._record(admission, now, hold_id, "deny", verdict.rule, reason, "policies.backend")
                raise
            if isinstance(result, Denial) and route.clips:
                reservation, result = await self._clip(admission, now, route, reservation, result)
            if isinstance(result, Denial):
                self._deny_by_counter(admission, now, route, reservation, result)
            if result:
                self._warn(route, reservation, result)
        self._record(admission, now, hold_id, "allow", verdict.rule, None, None)
        return reservation

    async def _clip(
        self, admission: Admission, now: float, route: Route, reservation: Reservation, denial: Denial
    ) -> tuple[Reservation, Denial | Sequence[BudgetLevel]]:
        """Lower the call's output to what the ``clip_output`` budget that refused it has left, and try again.

        Each try is the backend's atomic check-and-hold, so a budget is never
        exceeded; another try is needed only when another budget (or another
        process) refuses the clipped call. When not even one output token fits,
        the refusal is for the smallest call (input + 1 token).
        """
        result: Denial | Sequence[BudgetLevel] = denial
        for _ in range(len(route.budgets) + 2):
            if denial.kind not in ("tokens", "cost"):
                break
            budget = route.budgets[denial.index][0]
            if not budget.clip_output:
                break
            held = (denial.used + denial.reserved, 0) if denial.kind == "tokens" else (0, denial.used + denial.reserved)
            output = output_that_fits(budget, held, admission.input_tokens, reservation.price)
            current = reservation.tokens - max(admission.input_tokens, 0)
            if output >= current:
                break  # nothing to clip: this budget would refuse the same again
            reservation = self._with_output(reservation, admission, route, max(output, 1))
            if output < 1:
                break
            result = await self.backend.reserve(reservation, now)
            if not isinstance(result, Denial):
                return reservation, result
            denial = result
        return reservation, denial

    @staticmethod
    def _with_output(reservation: Reservation, admission: Admission, route: Route, output: int) -> Reservation:
        cost = 0
        if route.budgets and reservation.price is not None:
            cost = cost_units_ceil(reservation.price.cost(Usage(admission.input_tokens, output)))
        return replace(reservation, tokens=max(admission.input_tokens, 0) + output, cost=cost, output_cap=output)

    async def settle(self, reservation: object | None, usage: Usage, cost: float | None) -> None:
        """The call succeeded: its actual tokens and cost replace what ``admit`` held.

        Without a ``cost`` (the served model has no price) the usage is priced
        with the price of the model admitted. A second settle or release is a no-op.
        """
        held = _held(reservation)
        if held is None:
            return
        self._check_open()
        held.state = "settled"
        if not (held.windows or held.budgets):
            return
        held.usage = usage
        tokens = max(usage.input_tokens, 0) + max(usage.output_tokens, 0)
        if cost is not None:
            units = cost_units_nearest(cost)
        elif held.price is not None:
            units = cost_units_nearest(held.price.cost(usage))
        else:
            units = 0
        await self.backend.settle(held, tokens, units, self._clock())

    async def release(self, reservation: object | None) -> None:
        """The call failed or was abandoned: drop what ``admit`` held. A second release or settle is a no-op."""
        held = _held(reservation)
        if held is None:
            return
        self._check_open()
        held.state = "released"
        if held.windows or held.budgets:
            await self.backend.release(held, self._clock())

    # --- explanations and statistics ---------------------------------------------------

    async def explain(self, principal: Principal, model: ModelSpec, operation: str = "generate") -> Explanation:
        """Which rule decides a call, which limits and budgets it counts against, and how much is left."""
        self._check_open()
        return await explain(self._policy, self.backend, principal, model, operation, self._clock())

    @property
    def decisions(self) -> dict[tuple[str, str], int]:
        """Decisions so far by (who decided, outcome): ``("default", "allow")``, ``("no-interns", "deny")``,
        ``("user rpm=60", "deny")``. Who decided is a rule name, ``default``, a cap or a limit/budget label."""
        return dict(self._decisions)

    # --- decisions ---------------------------------------------------------------------

    def _record(
        self,
        admission: Admission,
        now: float,
        request_id: str,
        outcome: Literal["allow", "deny"],
        rule: str | None,
        reason: str | None,
        limit: str | None,
    ) -> None:
        who = limit or rule or "default"
        self._decisions[(who, outcome)] = self._decisions.get((who, outcome), 0) + 1
        if self.on_decision is None:
            return
        # The call's own id when the pipeline gave one, so the audit row joins the ledger row.
        request_id = admission.request_id or request_id
        principal = admission.principal
        decision = PolicyDecision(
            now,
            request_id,
            principal.user,
            principal.tenant,
            principal.api_key,
            admission.model.name,
            admission.operation,
            outcome,
            rule,
            reason,
            limit,
        )
        try:
            self.on_decision(decision)
        except Exception:  # an audit sink that fails must not fail the call; it is loud in the log
            _log.exception("policy_decision_callback_failed", request_id=request_id)

    def _deny(
        self,
        admission: Admission,
        now: float,
        rule: str | None,
        reason: str,
        limit: str | None,
        error: Exception,
        request_id: str | None = None,
    ) -> NoReturn:
        if request_id is None:
            request_id = self._id_prefix + str(next(self._ids))
        self._record(admission, now, request_id, "deny", rule, reason, limit)
        raise error

    def _deny_by_rule(self, admission: Admission, now: float, rule: str | None, reason: str | None) -> NoReturn:
        who = f"rule {rule!r}" if rule is not None else "policies.default (deny; no rule matched)"
        because = f": {reason}" if reason else ""
        message = (
            f"{who} denies {admission.operation} on model {admission.model.name!r} "
            f"for {_describe(admission.principal)}{because}"
        )
        error = PolicyDenied(message, rule=rule if rule is not None else "default", reason=reason)
        self._deny(admission, now, rule if rule is not None else "default", reason or message, None, error)

    def _deny_by_cap(self, admission: Admission, now: float, cap: str, message: str) -> NoReturn:
        rule = f"policies.{cap}"
        self._deny(admission, now, rule, message, None, PolicyDenied(message, rule=rule, reason=message))

    def _deny_unpriced(self, admission: Admission, now: float, route: Route) -> NoReturn:
        budget = route.needs_price
        assert budget is not None
        name = admission.model.name
        message = (
            f"model {name!r} has no known price, so the cost budget {budget.label} cannot be enforced: "
            f"set models.{name}.pricing (input and output, USD per million tokens)"
        )
        error = PolicyDenied(message, rule=f"budget {budget.label}", reason=message)
        self._deny(admission, now, route.verdict.rule, message, budget.label, error)

    def _deny_by_counter(
        self, admission: Admission, now: float, route: Route, reservation: Reservation, denial: Denial
    ) -> NoReturn:
        error: Exception
        if denial.kind in ("rpm", "tpm"):
            limit, scope = route.limits[denial.index]
            label = limit.label
            if denial.kind == "rpm":
                message = f"rate limit {label} for {scope}: {denial.used} of {limit.rpm} requests used in the last 60s"
            elif denial.retry_after is None:
                message = (
                    f"rate limit {label} for {scope}: the request holds {reservation.tokens} tokens "
                    f"(input estimate + max output), more than tpm={limit.tpm} allows in a minute: "
                    "lower max_output_tokens or raise the limit"
                )
            else:
                message = (
                    f"rate limit {label} for {scope}: {denial.used} of {limit.tpm} tokens used in the last 60s, "
                    f"and the request holds {reservation.tokens}"
                )
            if denial.retry_after is not None:
                message += f"; retry in {denial.retry_after:.2f}s"
            error = RateLimitExceeded(message, scope=scope, limit=label, retry_after=denial.retry_after)
        else:
            budget, scope, clock = route.budgets[denial.index]
            label = budget.label
            end = clock.bounds(now)[1]
            refusal = BudgetRefusal(
                budget,
                scope,
                denial.kind,
                denial.used,
                denial.reserved,
                (reservation.tokens, reservation.cost),
                admission.input_tokens,
                reservation.price,
                None if end is None else datetime.fromtimestamp(end, clock.tz),
            )
            message = refusal.message
            error = BudgetExceeded(message, scope=scope, budget=label, resets_at=refusal.resets_at)
        self._deny(admission, now, route.verdict.rule, message, label, error, reservation.id)

    def _warn(self, route: Route, reservation: Reservation, levels: Sequence[BudgetLevel]) -> None:
        for (budget, scope, _), charge, (tokens, cost) in zip(route.budgets, reservation.budgets, levels, strict=True):
            fraction = 0.0
            if budget.max_tokens:
                fraction = tokens / budget.max_tokens
            if budget.max_cost:
                fraction = max(fraction, cost / budget.max_cost)
            if self.on_budget_level is not None:
                self.on_budget_level(budget, scope, fraction)
            if fraction < budget.warn_at or charge.key in self._warned:
                continue
            if len(self._warned) >= _WARNED_MAX:
                self._warned.clear()
            self._warned.add(charge.key)
            _log.warning(
                "budget_warning",
                budget=budget.label,
                scope=scope,
                period=budget.period,
                used_fraction=round(fraction, 4),
                warn_at=budget.warn_at,
                tokens=tokens,
                cost=usd(cost),
            )


def _counts_output(policy: CompiledPolicy, route: Any) -> bool:
    """Whether a cap, a budget or a token window depends on the call's output size."""
    return (
        policy.max_output_tokens is not None
        or bool(route.budgets)
        or any(window.tpm is not None for window in route.windows)
    )
