"""A process that attacks one budget with calls until the crash test kills it with SIGKILL.

    python budget_crash_worker.py <folder> <backend> <key prefix> <seed>

Serves its own FakeUpstream, opens a runtime on ``<folder>/agentrt.db`` counting on ``<backend>``
(``sqlite`` or a ``redis://`` URL), and makes random calls one after another for ever (plain and
streamed, some left part-way, some falling back to the pricier model). For each it prints a JSON line
when it starts and one when it ends, with the time, so the test knows what was in flight at the kill.
Whole answers never pass the cap they are sent: the test expects an exact account, with no exception.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path

from budget_attack import CallOp, run_call, runtime_config, upstream_urls

from agentrt import Runtime
from agentrt.testing import FakeUpstream


def random_call(rng: random.Random) -> CallOp:
    stream = rng.random() < 0.6
    style = rng.choice(["none", "max_output_tokens", "max_tokens", "params_max_completion_tokens"])
    limit = (style, rng.choice([1, 60, 200, 400])) if style != "none" else ("none", 0)
    leave = rng.choice([None, None, ("break", rng.choice([0, 2])), ("cancel", rng.choice([0, 2]))]) if stream else None
    ratio = rng.choice([0.01, 0.5, 1.0, 1.5, 12.0] if stream else [0.01, 0.5, 1.0])
    model = rng.choice(["solo", "primary"])
    fails = rng.choice([None, 503, 429]) if model == "primary" else None
    return CallOp(stream, model, fails, limit, ratio, leave)


def say(**fields: object) -> None:
    print(json.dumps({**fields, "t": time.time()}), flush=True)


async def main(folder: Path, backend: str, key_prefix: str, seed: int) -> None:
    rng = random.Random(seed)
    async with FakeUpstream() as up:
        config = runtime_config(upstream_urls(up), folder, backend, "tokens", clip=False, key_prefix=key_prefix)
        async with Runtime.open(config, plugins=False) as rt:
            say(event="ready")
            n = 0
            while True:
                rid = f"crash-{seed}-{n}"
                n += 1
                say(event="start", rid=rid)
                outcome = await run_call(rt, up, random_call(rng), rid)
                tokens = outcome.completion.usage.total_tokens if outcome.completion is not None else None
                say(event="done", rid=rid, result=outcome.result, tokens=tokens)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])))
