"""The policy as a runtime service: a :class:`PolicyEngine` on the backend ``policies.backend`` names.

Registered by the runtime in place of the pipeline's ``AllowAll`` hook. It
needs the store (the ``sqlite`` backend keeps its counters there), is
reconfigured with the ``policies`` section on reload, and closes its backend
at stop, writing the settles still queued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from agentrt.calls.policy_hook import PolicyHook
from agentrt.config import Config, PoliciesSection
from agentrt.observability import Metrics
from agentrt.policy.backends import MemoryBackend, PolicyBackend
from agentrt.policy.budgets import Budget
from agentrt.policy.decisions import PolicyDecision
from agentrt.policy.engine import DecisionCallback, PolicyEngine
from agentrt.services import service
from agentrt.store import AuditRecord, AuditTrail, Store

__all__ = ["audit_callback", "open_backend", "policy_service"]


def open_backend(section: PoliciesSection, store: Store | None) -> PolicyBackend:
    """The (unopened) backend ``section.backend`` names: ``memory``, ``sqlite`` (in ``store``) or ``redis://``."""
    backend = section.backend
    if backend == "memory":
        return MemoryBackend()
    if backend == "sqlite":
        from agentrt.errors import ConfigError, ConfigProblem
        from agentrt.policy.backends.sqlite import SqliteBackend

        if store is None:
            raise ConfigError(
                [ConfigProblem("policies.backend", "the sqlite backend needs the store: configure store.url")]
            )
        return SqliteBackend(store)
    from agentrt.policy.backends.redis import RedisBackend

    return RedisBackend(backend, key_prefix=section.key_prefix)


def _also_counted(record: DecisionCallback, metrics: Metrics) -> DecisionCallback:
    from prometheus_client import Counter

    decisions = Counter(
        "agentrt_policy_decisions",
        "Policy decisions by outcome and by the rule, limit or budget that decided.",
        ["decision", "rule"],
        registry=metrics.registry,
    )

    children: dict[tuple[str, str], Any] = {}

    def count_and_record(decision: PolicyDecision) -> None:
        key = (decision.decision, decision.rule or decision.limit or "default")
        child = children.get(key)
        if child is None:
            child = children[key] = decisions.labels(*key)
        child.inc()
        record(decision)

    return count_and_record


def _headroom_gauge(metrics: Metrics) -> Callable[[Budget, str, float], None]:
    from prometheus_client import Gauge

    headroom = Gauge(
        "agentrt_budget_headroom_ratio",
        "What is left of a budget (1 untouched, 0 spent), as of the last call that counted on it. "
        "Per scope key for global, tenant, model and provider scopes; user and api_key scopes are "
        "left out (unbounded; `agentrt policy check` tells one principal's).",
        ["budget", "scope_key"],
        registry=metrics.registry,
    )

    def observe(budget: Budget, scope_key: str, used: float) -> None:
        if "user" in budget.dimensions or "api_key" in budget.dimensions:
            return
        headroom.labels(budget.label, scope_key).set(max(0.0, 1.0 - used))

    return observe


def audit_callback(trail: AuditTrail) -> DecisionCallback:
    """An ``on_decision`` that writes every decision to the store's audit trail (queued; no I/O on the call)."""

    def record(decision: PolicyDecision) -> None:
        # Field by field: dataclasses.asdict deep-copies, and this runs on every call.
        trail.record(
            AuditRecord(
                ts=decision.ts,
                request_id=decision.request_id,
                user=decision.user,
                tenant=decision.tenant,
                api_key=decision.api_key,
                model=decision.model,
                operation=decision.operation,
                decision=decision.decision,
                rule=decision.rule,
                reason=decision.reason,
                limit=decision.limit,
            )
        )

    return record


@service(name="policy", version="1", config_section="policies")
async def policy_service(
    config: Config, store: Store, audit: AuditTrail, metrics: Metrics
) -> AsyncIterator[PolicyHook]:
    """The policy engine of ``config.policies``, counting on its configured backend.

    Every decision goes to the audit trail and to the ``agentrt_policy_decisions``
    metric. ``backend: sqlite`` with a PostgreSQL store is a ``ConfigError`` at start.
    """
    on_decision = audit_callback(audit)
    if metrics.enabled:
        on_decision = _also_counted(on_decision, metrics)
    engine = PolicyEngine(config.policies, open_backend(config.policies, store), on_decision=on_decision)
    if metrics.enabled:
        engine.on_budget_level = _headroom_gauge(metrics)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()
