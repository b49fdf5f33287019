"""The policy: who may call which model, how fast, and for how much. Never exceeded, in one process or many.

::

    engine = PolicyEngine(config.policies, MemoryBackend(), on_decision=audit.record)
    async with engine:
        reservation = await engine.admit(Admission(principal, "generate", spec, 900, 1024))
        ...                                            # PolicyDenied, RateLimitExceeded, BudgetExceeded
        await engine.settle(reservation, usage, cost)  # or: await engine.release(reservation)
        print(await engine.explain(principal, spec))   # what `agentrt policy check` shows

Modules: ``rules`` (first match wins), ``limits`` (rpm/tpm over a sliding 60 s
window), ``budgets`` (tokens and cost per period), ``reservation`` (what a call
holds), ``compiled`` (one configuration generation), ``engine``
(:class:`PolicyEngine`), ``explain``, ``decisions``, ``backends`` (memory,
sqlite, redis), ``service`` (the runtime service; imported on its own).
"""

from agentrt.policy.backends import MemoryBackend, PolicyBackend
from agentrt.policy.decisions import PolicyDecision
from agentrt.policy.engine import DecisionCallback, PolicyEngine
from agentrt.policy.explain import BudgetStatus, Explanation, LimitStatus
from agentrt.policy.reservation import Reservation
from agentrt.policy.rules import RuleTrace

__all__ = [
    "BudgetStatus",
    "DecisionCallback",
    "Explanation",
    "LimitStatus",
    "MemoryBackend",
    "PolicyBackend",
    "PolicyDecision",
    "PolicyEngine",
    "Reservation",
    "RuleTrace",
]
