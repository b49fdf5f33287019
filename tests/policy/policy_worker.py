"""A separate OS process for the multi-process policy tests (run as a script, not collected by pytest).

    python policy_worker.py hammer <backend> <attempts> <seed>   admit/settle on shared limits; prints a JSON report
    python policy_worker.py hold <backend> <count>               admit, never settle; prints "held", then waits

``<backend>`` is ``redis|<url>|<key prefix>`` or ``sqlite|<database file>``. Both modes first print
``ready`` and wait for a line on stdin, so that every process starts at once.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any

import structlog

from agentrt.calls import Admission
from agentrt.calls.principal import Principal
from agentrt.config import PoliciesSection
from agentrt.errors import BudgetExceeded, RateLimitExceeded
from agentrt.models import ModelSpec, Price
from agentrt.policy import PolicyBackend, PolicyEngine
from agentrt.types import Usage

MODEL = ModelSpec("gpt-4o-mini", "openai", "gpt-4o-mini", pricing=Price(1.0, 2.0))

# The hammer: every call counts against one rpm limit and one token budget per user. Calls alternate
# between two users: "rate" holds 10 tokens a call (its rpm runs out long before its budget) and
# "spend" holds 100 a call and uses all of it (its budget runs out long before its rpm).
HAMMER_RPM = 300
HAMMER_MAX_TOKENS = 20_000
RATE = Principal("rate", "t")
SPEND = Principal("spend", "t")
TASKS_PER_PROCESS = 8

HOLD_MAX_TOKENS = 1000
HOLD_TTL = "1s"
HOLDER = Principal("holder", "t")


def hammer_section() -> PoliciesSection:
    return PoliciesSection.model_validate(
        {
            "limits": [{"scope": "user", "rpm": HAMMER_RPM}],
            "budgets": [{"scope": "user", "period": "total", "max_tokens": HAMMER_MAX_TOKENS}],
        }
    )


def hold_section() -> PoliciesSection:
    return PoliciesSection.model_validate(
        {
            "reservation_ttl": HOLD_TTL,
            "budgets": [{"scope": "global", "period": "total", "max_tokens": HOLD_MAX_TOKENS}],
        }
    )


async def open_backend(spec: str) -> tuple[PolicyBackend, Any]:
    """The backend named by ``spec``, and the store to close after it (or None)."""
    kind, _, rest = spec.partition("|")
    if kind == "redis":
        from agentrt.policy.backends.redis import RedisBackend

        url, _, prefix = rest.partition("|")
        return RedisBackend(url, key_prefix=prefix), None
    from agentrt.policy.backends.sqlite import SqliteBackend
    from agentrt.store import open_store

    store = open_store(f"sqlite:///{rest}")
    await store.open()
    return SqliteBackend(store), store


def wait_for_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


async def hammer(spec: str, attempts: int, seed: int) -> dict[str, dict[str, int]]:
    rng = random.Random(seed)
    backend, store = await open_backend(spec)
    report = {
        user: {"attempts": 0, "admitted": 0, "tokens": 0, "rate_limited": 0, "over_budget": 0}
        for user in ("rate", "spend")
    }
    remaining = attempts
    async with PolicyEngine(hammer_section(), backend) as engine:
        wait_for_go()

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                principal = RATE if remaining % 2 else SPEND
                mine = report[principal.user or ""]
                mine["attempts"] += 1
                held = (2, 8) if principal is RATE else (20, 80)
                try:
                    reservation = await engine.admit(Admission(principal, "generate", MODEL, *held))
                except RateLimitExceeded:
                    mine["rate_limited"] += 1
                    continue
                except BudgetExceeded:
                    mine["over_budget"] += 1
                    continue
                mine["admitted"] += 1
                await asyncio.sleep(0)  # the "call": let the other tasks in
                # "rate" uses anything up to its reservation, "spend" all of it.
                usage = Usage(rng.randint(0, held[0]), rng.randint(0, held[1])) if principal is RATE else Usage(*held)
                mine["tokens"] += usage.total_tokens
                await engine.settle(reservation, usage, None)

        await asyncio.gather(*(worker() for _ in range(TASKS_PER_PROCESS)))
    if store is not None:
        await store.close()
    return report


async def hold(spec: str, count: int) -> None:
    backend, _ = await open_backend(spec)
    engine = PolicyEngine(hold_section(), backend)
    await engine.open()
    wait_for_go()
    for _ in range(count):
        await engine.admit(Admission(HOLDER, "generate", MODEL, 20, 80))
    print("held", flush=True)
    await asyncio.sleep(3600)  # until SIGKILL


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout carries the protocol
    mode, spec, number = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "hammer":
        report = asyncio.run(hammer(spec, number, int(sys.argv[4])))
        print(json.dumps(report), flush=True)
    else:
        asyncio.run(hold(spec, number))


if __name__ == "__main__":
    main()
