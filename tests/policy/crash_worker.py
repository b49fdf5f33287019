"""A process that makes model calls and is then killed with SIGKILL (run as a script by the crash test).

    python crash_worker.py <config path> <calls>

Makes the calls one after another, prints ``done`` and then blocks its event loop, so that the
ledger's and the audit trail's batch writers never run again: the rows of the last calls are
still queued in memory when the test kills it, while the policy counters already hold them.
"""

from __future__ import annotations

import asyncio
import sys
import time

from agentrt import Runtime


async def main(config: str, calls: int) -> None:
    async with Runtime.open(config, plugins=False) as rt:
        for _ in range(calls):
            await rt.generate("m", "hello there", user="alice", tenant="acme", max_output_tokens=20)
        print("done", flush=True)
        time.sleep(600)  # noqa: ASYNC251 -- blocking on purpose: nothing else in this process runs until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
