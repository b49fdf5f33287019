"""Properties (hypothesis): no sequence of admits, settles, releases and clock moves lets a limit or a
budget be exceeded, on any backend; and rules decide by first match, as documented.

The test keeps its own account of every window and budget (a plain model, written independently of the
engine) and checks at every step that the engine admits exactly what fits, and that what was admitted
never exceeds a limit or budget, except by what calls used beyond their holds (more than reserved, or
settled after the hold lapsed: no policy can refuse usage that already happened).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_support import PRICED, FakeClock, ask, policies

from agentrt.calls.principal import Principal
from agentrt.errors import BudgetExceeded, PolicyDenied, RateLimitExceeded
from agentrt.models import ModelSpec
from agentrt.policy import PolicyBackend, PolicyDecision, PolicyEngine, Reservation
from agentrt.policy.backends import MemoryBackend
from agentrt.types import Usage

RPM, TPM = 3, 2000
MAX_TOKENS = 2000  # per user
MAX_COST_USD = 0.004  # for everyone
TTL = 45.0
USERS = (Principal("alice", "acme"), Principal("bob", "acme"))
NANO = 1_000_000_000


def worst_cost(input_tokens: int, output_tokens: int) -> int:
    """PRICED costs $1 per million input tokens and $2 per million output tokens: in nano-USD, exactly."""
    return input_tokens * 1000 + output_tokens * 2000


@dataclass
class Entry:
    ts: float
    tokens: int


@dataclass
class Hold:
    amount: int
    expires_at: float


@dataclass
class Counter:
    """One budget counter of the test's account: what settled calls used, and the holds of admitted ones."""

    maximum: int
    used: int = 0
    holds: dict[str, Hold] = field(default_factory=dict)
    # What calls used beyond what their holds covered: above the reservation, or settled after the hold lapsed.
    overshoot: int = 0

    def reserved(self, now: float) -> int:
        return sum(hold.amount for hold in self.holds.values() if hold.expires_at > now)

    def fits(self, amount: int, now: float) -> bool:
        return self.used + self.reserved(now) + amount <= self.maximum

    def settle(self, rid: str, amount: int, now: float) -> None:
        hold = self.holds.pop(rid, None)
        self.used += amount
        if hold is not None and hold.expires_at > now:
            self.overshoot += max(amount - hold.amount, 0)
        else:  # a call that outlived reservation_ttl: its hold no longer kept room for it
            self.overshoot += amount

    def check(self, now: float) -> None:
        assert self.used + self.reserved(now) <= self.maximum + self.overshoot


@dataclass
class Model:
    """The test's own account: a window (rpm, tpm) and a token budget per user, one cost budget for all."""

    windows: dict[str, dict[str, Entry]] = field(default_factory=lambda: {u.user or "": {} for u in USERS})
    tokens: dict[str, Counter] = field(default_factory=lambda: {u.user or "": Counter(MAX_TOKENS) for u in USERS})
    cost: Counter = field(default_factory=lambda: Counter(round(MAX_COST_USD * NANO)))
    window_overshoot: int = 0

    def live(self, user: str, now: float) -> list[Entry]:
        return [e for e in self.windows[user].values() if e.ts > now - 60]

    def verdict(self, user: str, tokens: int, cost: int, now: float) -> str:
        entries = self.live(user, now)
        if len(entries) + 1 > RPM or sum(e.tokens for e in entries) + tokens > TPM:
            return "rate"
        if not self.tokens[user].fits(tokens, now) or not self.cost.fits(cost, now):
            return "budget"
        return "ok"

    def check_invariants(self, now: float) -> None:
        for user in self.windows:
            entries = self.live(user, now)
            assert len(entries) <= RPM
            assert sum(e.tokens for e in entries) <= TPM + self.window_overshoot
            self.tokens[user].check(now)
        self.cost.check(now)


# Coarse values on purpose: sums then land exactly on a limit, a window's edge (60 s) or a hold's expiry (45 s),
# where an off-by-one would hide from finely spread random values.
TOKENS = st.sampled_from([0, 1, 100, 250, 500, 1000])
FRACTIONS = st.sampled_from([0.0, 0.5, 1.0, 1.2])  # actual usage relative to the reservation: sometimes above
admit_op = st.tuples(st.just("admit"), st.integers(0, 1), TOKENS, TOKENS)  # user, input, max output
settle_op = st.tuples(st.just("settle"), st.integers(0, 50), FRACTIONS, FRACTIONS)  # which call, actual in/out
release_op = st.tuples(st.just("release"), st.integers(0, 50), st.just(0), st.just(0))
advance_op = st.tuples(st.just("advance"), st.sampled_from([0.0, 5.0, 15.0, 30.0, 45.0, 60.0]), st.just(0), st.just(0))
operations = st.lists(
    st.one_of(admit_op, admit_op, admit_op, settle_op, settle_op, release_op, advance_op), min_size=30, max_size=80
)


async def run_sequence(backend: PolicyBackend, ops: list[tuple[Any, ...]]) -> None:
    clock = FakeClock()
    section = policies(
        reservation_ttl=TTL,
        limits=[{"scope": "user", "rpm": RPM, "tpm": TPM}],
        budgets=[
            {"scope": "user", "period": "total", "max_tokens": MAX_TOKENS},
            {"scope": "global", "period": "total", "max_cost": MAX_COST_USD},
        ],
    )
    model = Model()
    outstanding: list[tuple[Reservation, str, int, int]] = []  # reservation, user, input, max output
    async with PolicyEngine(section, backend, clock=clock) as engine:
        for kind, a, b, c in ops:
            now = clock.now
            if kind == "advance":
                clock.advance(a)
            elif kind == "admit":
                principal = USERS[a]
                user = principal.user or ""
                tokens, cost = b + c, worst_cost(b, c)
                expected = model.verdict(user, tokens, cost, now)
                try:
                    reservation = await engine.admit(ask(principal, PRICED, b, c))
                except RateLimitExceeded:
                    assert expected == "rate"
                except BudgetExceeded:
                    assert expected == "budget"
                else:
                    assert expected == "ok", f"admitted a call the model refuses ({expected})"
                    model.windows[user][reservation.id] = Entry(now, tokens)
                    model.tokens[user].holds[reservation.id] = Hold(tokens, now + TTL)
                    model.cost.holds[reservation.id] = Hold(cost, now + TTL)
                    outstanding.append((reservation, user, b, c))
            elif outstanding:
                reservation, user, reserved_in, reserved_out = outstanding.pop(a % len(outstanding))
                entry = model.windows[user].get(reservation.id)
                in_window = entry is not None and entry.ts > now - 60
                if kind == "settle":
                    usage = Usage(int(reserved_in * b), int(reserved_out * c))
                    actual_cost = worst_cost(usage.input_tokens, usage.output_tokens)
                    await engine.settle(reservation, usage, actual_cost / NANO)
                    model.tokens[user].settle(reservation.id, usage.total_tokens, now)
                    model.cost.settle(reservation.id, actual_cost, now)
                    if in_window and entry is not None:
                        model.window_overshoot += max(usage.total_tokens - entry.tokens, 0)
                        entry.tokens = usage.total_tokens
                else:
                    await engine.release(reservation)
                    model.tokens[user].holds.pop(reservation.id, None)
                    model.cost.holds.pop(reservation.id, None)
                    if in_window and entry is not None:
                        entry.tokens = 0
            model.check_invariants(clock.now)
        # At the end the engine's counters are the model's, to the token and the nano-dollar.
        for principal in USERS:
            user = principal.user or ""
            explanation = await engine.explain(principal, PRICED)
            token_budget, cost_budget = explanation.budgets
            counter = model.tokens[user]
            assert (token_budget.used_tokens, token_budget.reserved_tokens) == (
                counter.used,
                counter.reserved(clock.now),
            )
            assert round(cost_budget.used_cost * NANO) == model.cost.used
            assert round(cost_budget.reserved_cost * NANO) == model.cost.reserved(clock.now)
            window = explanation.limits[0]
            live = model.live(user, clock.now)
            assert (window.requests, window.tokens) == (len(live), sum(e.tokens for e in live))


@settings(max_examples=400, deadline=None)
@given(ops=operations)
def test_memory_never_exceeds_a_limit_or_budget(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_sequence(MemoryBackend(), ops))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_sqlite_never_exceeds_a_limit_or_budget(ops: list[tuple[Any, ...]], tmp_path: Path) -> None:
    from agentrt.policy.backends.sqlite import SqliteBackend
    from agentrt.store import open_store

    async def run() -> None:
        async with open_store(f"sqlite:///{tmp_path / uuid.uuid4().hex}.db") as store:
            await run_sequence(SqliteBackend(store), ops)

    asyncio.run(run())


@settings(max_examples=40, deadline=None)
@given(ops=operations)
def test_redis_never_exceeds_a_limit_or_budget(ops: list[tuple[Any, ...]], redis_url: str) -> None:
    from agentrt.policy.backends.redis import RedisBackend

    asyncio.run(run_sequence(RedisBackend(redis_url, key_prefix=f"prop:{uuid.uuid4().hex}:"), ops))


# --- rules: the first match wins ---------------------------------------------------------------

NAMES = ("a", "b")
MODELS = (
    ModelSpec("gpt-4o", "openai", "gpt-4o", frozenset({"chat", "tools"})),
    ModelSpec("gpt-5-mini", "openai", "gpt-5-mini", frozenset({"chat", "vision"})),
    ModelSpec("claude", "anthropic", "claude", frozenset({"chat"})),
)
OPERATIONS = ("generate", "stream", "embed", "object")


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any] | None]:
    return st.none() | st.lists(values, min_size=1, max_size=2, unique=True)


rule_strategy = st.fixed_dictionaries(
    {
        "effect": st.sampled_from(["allow", "deny"]),
        "match": st.fixed_dictionaries(
            {
                "users": maybe(st.sampled_from(NAMES)),
                "tenants": maybe(st.sampled_from(NAMES)),
                "tags": maybe(st.sampled_from(NAMES)),
                "models": maybe(st.sampled_from(["gpt-*", "*mini", "claude", "x*"])),
                "providers": maybe(st.sampled_from(["openai", "anthropic"])),
                "operations": maybe(st.sampled_from(OPERATIONS)),
                "capabilities": maybe(st.sampled_from(["tools", "vision"])),
            }
        ),
    }
)


def matches(match: dict[str, Any], principal: Principal, model: ModelSpec, operation: str) -> bool:
    """The documented semantics, written out plainly: every set condition holds; a list holds if any entry does."""
    checks = [
        (match["users"], lambda names: principal.user in names),
        (match["tenants"], lambda names: principal.tenant in names),
        (match["tags"], lambda names: any(tag in names for tag in principal.tags)),
        (match["models"], lambda globs: any(fnmatchcase(model.name, g) for g in globs)),
        (match["providers"], lambda names: model.provider in names),
        (match["operations"], lambda names: operation in names),
        (match["capabilities"], lambda names: any(c in model.capabilities for c in names)),
    ]
    return all(condition is None or holds(condition) for condition, holds in checks)


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(rule_strategy, max_size=6),
    default=st.sampled_from(["allow", "deny"]),
    user=st.sampled_from((*NAMES, None)),
    tenant=st.sampled_from((*NAMES, None)),
    tags=st.lists(st.sampled_from(NAMES), max_size=2, unique=True),
    model=st.sampled_from(MODELS),
    operation=st.sampled_from(OPERATIONS),
)
def test_the_first_matching_rule_decides_else_the_default(
    rules: list[dict[str, Any]],
    default: str,
    user: str | None,
    tenant: str | None,
    tags: list[str],
    model: ModelSpec,
    operation: str,
) -> None:
    named = [{**rule, "name": f"rule-{i}"} for i, rule in enumerate(rules)]
    principal = Principal(user, tenant, tags=tuple(tags))
    expected = next(
        ((r["name"], r["effect"]) for r in named if matches(r["match"], principal, model, operation)),
        ("default", default),
    )

    async def decide() -> tuple[str, str]:
        decisions: list[PolicyDecision] = []
        async with PolicyEngine(policies(default=default, rules=named), on_decision=decisions.append) as engine:
            try:
                await engine.admit(ask(principal, model, operation=operation))
            except PolicyDenied as err:
                return str(err.rule), "deny"
            return decisions[-1].rule or "default", "allow"

    assert asyncio.run(decide()) == expected


def test_the_model_of_the_property_tests_refuses_what_it_should() -> None:
    """The independent account itself can fail: a full window is refused, an empty one is not."""
    model = Model()
    for i in range(RPM):
        model.windows["alice"][str(i)] = Entry(0.0, 1)
    assert model.verdict("alice", 1, 0, 1.0) == "rate"
    assert model.verdict("bob", 1, 0, 1.0) == "ok"
    assert model.verdict("alice", 1, 0, 60.0) == "ok"
