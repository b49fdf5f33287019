"""One OS process of the end-to-end policy test: full rt.generate calls, shared Redis and ledger.

    python calls_worker.py <config path> <calls> <seed>

Prints ``ready``, waits for a line on stdin (so every process starts at once), fires the calls
with 8 in flight, alternating two users, then closes the runtime (flushing its ledger rows)
and prints a JSON report of what it was allowed and refused.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from collections import Counter

from agentrt import Runtime
from agentrt.errors import BudgetExceeded, RateLimitExceeded

USERS = ("rate", "spend")


async def main(config: str, calls: int, seed: int) -> None:
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    async with Runtime.open(config, plugins=False) as rt:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        queue = list(range(calls))

        async def worker() -> None:
            while queue:
                n = queue.pop()
                user = USERS[n % 2]
                # "spend" asks long questions so its token budget runs out before its rpm limit.
                prompt = "x" * (rng.randint(200, 400) if user == "spend" else 8)
                try:
                    await rt.generate("m", prompt, user=user)
                except RateLimitExceeded:
                    outcomes[f"{user}:rate_limited"] += 1
                except BudgetExceeded:
                    outcomes[f"{user}:over_budget"] += 1
                else:
                    outcomes[f"{user}:ok"] += 1

        await asyncio.gather(*(worker() for _ in range(8)))
    print(json.dumps(dict(outcomes)), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
