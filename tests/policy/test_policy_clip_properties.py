"""Properties (hypothesis) of ``clip_output`` budgets, on memory, SQLite and Redis: random interleavings of
admits (with and without an output limit), settles, releases and clock moves against one token budget and
one cost budget. A call is admitted with the largest output that fits (never more, and refused only when
not even one output token fits), usage never passes a budget, and the counters equal what was settled."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_support import ALICE, PRICED, FakeClock, ask, policies
from test_policy_properties import NANO, Counter, Hold

from agentrt.errors import BudgetExceeded
from agentrt.policy import PolicyBackend, PolicyEngine, Reservation
from agentrt.policy.backends import MemoryBackend
from agentrt.policy.reservation import cost_units_ceil
from agentrt.types import Usage

MAX_TOKENS = 1000
MAX_COST_USD = 0.0025
TTL = 45.0


def cost_of(input_tokens: int, output_tokens: int) -> int:
    return cost_units_ceil(PRICED.pricing.cost(Usage(input_tokens, output_tokens))) if PRICED.pricing else 0


def fits(tokens: Counter, cost: Counter, input_tokens: int, output: int, now: float) -> bool:
    return tokens.fits(input_tokens + output, now) and cost.fits(cost_of(input_tokens, output), now)


TOKENS = st.sampled_from([0, 1, 50, 100, 250, 400, 1000])
FRACTIONS = st.sampled_from([0.0, 0.5, 1.0])  # of the output cap: the provider is told the cap
admit_op = st.tuples(st.just("admit"), TOKENS, TOKENS, st.booleans())  # input, max output, caller set it
settle_op = st.tuples(st.just("settle"), st.integers(0, 50), FRACTIONS, FRACTIONS)
release_op = st.tuples(st.just("release"), st.integers(0, 50), st.just(0), st.just(0))
advance_op = st.tuples(st.just("advance"), st.sampled_from([0.0, 15.0, 45.0]), st.just(0), st.just(0))
operations = st.lists(
    st.one_of(admit_op, admit_op, admit_op, settle_op, settle_op, release_op, advance_op), min_size=20, max_size=60
)


async def run_sequence(backend: PolicyBackend, ops: list[tuple[Any, ...]]) -> None:
    clock = FakeClock()
    section = policies(
        reservation_ttl=TTL,
        budgets=[
            {"scope": "user", "period": "total", "max_tokens": MAX_TOKENS, "clip_output": True},
            {"scope": "global", "period": "total", "max_cost": MAX_COST_USD, "clip_output": True},
        ],
    )
    tokens, cost = Counter(MAX_TOKENS), Counter(round(MAX_COST_USD * NANO))
    outstanding: list[tuple[Reservation, int]] = []
    async with PolicyEngine(section, backend, clock=clock) as engine:
        for kind, a, b, c in ops:
            now = clock.now
            if kind == "advance":
                clock.advance(a)
            elif kind == "admit":
                input_tokens, max_output, limited = a, b, c
                try:
                    admission = ask(ALICE, PRICED, input_tokens, max_output, output_limited=limited)
                    reservation = await engine.admit(admission)
                except BudgetExceeded:
                    # Refused only when not even the smallest call fits: input + 1 output token (+ 0 if none asked).
                    assert not fits(tokens, cost, input_tokens, min(max_output, 1), now)
                else:
                    cap = reservation.output_cap
                    assert cap is not None
                    assert cap <= max_output or max_output == 0
                    assert reservation.tokens == input_tokens + cap
                    assert fits(tokens, cost, input_tokens, cap, now)  # what it holds fits what was left
                    if cap < max_output:  # clipped: to the most that fits, not less
                        assert not fits(tokens, cost, input_tokens, cap + 1, now)
                    tokens.holds[reservation.id] = Hold(reservation.tokens, now + TTL)
                    cost.holds[reservation.id] = Hold(reservation.cost, now + TTL)
                    outstanding.append((reservation, input_tokens))
            elif outstanding:
                reservation, input_tokens = outstanding.pop(a % len(outstanding))
                if kind == "settle":
                    usage = Usage(int(input_tokens * b), int((reservation.output_cap or 0) * c))
                    actual = cost_of(usage.input_tokens, usage.output_tokens)
                    await engine.settle(reservation, usage, actual / NANO)
                    tokens.settle(reservation.id, usage.total_tokens, now)
                    cost.settle(reservation.id, actual, now)
                else:
                    await engine.release(reservation)
                    tokens.holds.pop(reservation.id, None)
                    cost.holds.pop(reservation.id, None)
            tokens.check(clock.now)
            cost.check(clock.now)
        explanation = await engine.explain(ALICE, PRICED)
        token_budget, cost_budget = explanation.budgets
        assert (token_budget.used_tokens, token_budget.reserved_tokens) == (tokens.used, tokens.reserved(clock.now))
        assert round(cost_budget.used_cost * NANO) == cost.used
        assert round(cost_budget.reserved_cost * NANO) == cost.reserved(clock.now)


@settings(max_examples=300, deadline=None)
@given(ops=operations)
def test_memory_clips_to_what_is_left_and_never_exceeds(ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_sequence(MemoryBackend(), ops))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_sqlite_clips_to_what_is_left_and_never_exceeds(ops: list[tuple[Any, ...]], tmp_path: Path) -> None:
    from agentrt.policy.backends.sqlite import SqliteBackend
    from agentrt.store import open_store

    async def run() -> None:
        async with open_store(f"sqlite:///{tmp_path / uuid.uuid4().hex}.db") as store:
            await run_sequence(SqliteBackend(store), ops)

    asyncio.run(run())


@settings(max_examples=30, deadline=None)
@given(ops=operations)
def test_redis_clips_to_what_is_left_and_never_exceeds(ops: list[tuple[Any, ...]], redis_url: str) -> None:
    from agentrt.policy.backends.redis import RedisBackend

    asyncio.run(run_sequence(RedisBackend(redis_url, key_prefix=f"clip:{uuid.uuid4().hex}:"), ops))
