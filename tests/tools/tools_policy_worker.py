"""A separate OS process for the multi-process tool-policy test (run as a script, not collected by pytest).

    python tools_policy_worker.py <backend> <attempts>

``<backend>`` is ``redis|<url>|<key prefix>`` or ``sqlite|<database file>``. The worker prints ``ready``,
waits for a line on stdin (so every process starts at once), then makes ``attempts`` tool calls from 8
tasks: calls of ``github.search`` against a tool rpm limit, and calls of ``search.web`` (cost $0.30)
against a $3.00 budget, each admitted call settled. It prints a JSON report of what it got.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import structlog

from agentrt.calls.principal import Principal
from agentrt.config import PoliciesSection
from agentrt.errors import BudgetExceeded, RateLimitExceeded
from agentrt.policy import PolicyBackend, PolicyEngine

RPM = 40
MAX_COST = 3.0
COST = 0.3  # 10 calls fit in the budget
WHO = Principal("alice", "acme")
TASKS = 8


def section() -> PoliciesSection:
    return PoliciesSection.model_validate(
        {
            "limits": [{"scope": "user+tool", "tools": ["github.*"], "rpm": RPM}],
            "budgets": [{"scope": "tenant", "period": "total", "max_cost": MAX_COST, "tools": ["search.*"]}],
        }
    )


def backend_of(spec: str) -> tuple[PolicyBackend, Any]:
    kind, _, rest = spec.partition("|")
    if kind == "redis":
        from agentrt.policy.backends.redis import RedisBackend

        url, _, prefix = rest.partition("|")
        return RedisBackend(url, key_prefix=prefix), None
    from agentrt.policy.backends.sqlite import SqliteBackend
    from agentrt.store import open_store

    store = open_store(f"sqlite:///{rest}")
    return SqliteBackend(store), store


async def main(spec: str, attempts: int) -> dict[str, int]:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    backend, store = backend_of(spec)
    if store is not None:
        await store.open()
    report = {"searched": 0, "rate_limited": 0, "paid": 0, "over_budget": 0}
    try:
        async with PolicyEngine(section(), backend) as engine:
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            queue = iter(range(attempts))

            async def worker() -> None:
                for i in queue:
                    try:
                        if i % 2:
                            admitted = await engine.admit_tool(WHO, "github.search")
                            report["searched"] += 1
                        else:
                            admitted = await engine.admit_tool(WHO, "search.web", cost=COST)
                            report["paid"] += 1
                    except RateLimitExceeded:
                        report["rate_limited"] += 1
                        continue
                    except BudgetExceeded:
                        report["over_budget"] += 1
                        continue
                    await engine.settle_tool(admitted.reservation)

            await asyncio.gather(*(worker() for _ in range(TASKS)))
    finally:
        if store is not None:
            await store.close()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))), flush=True)
