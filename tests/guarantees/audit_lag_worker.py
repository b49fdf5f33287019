"""A process whose ledger row is written before its audit row, then SIGKILLed (run by the known-breach test).

    python audit_lag_worker.py <config path>

Makes one call as request ``audit-lag``, writes the ledger's queue (as its 0.5 s timer may do at any
moment), prints ``done`` and blocks its event loop, so the audit trail's own timer never writes its queue:
the call's audit row is in the store only if the ledger's write carried it.
"""

from __future__ import annotations

import asyncio
import sys
import time

from agentrt import Runtime
from agentrt.calls import request_id
from agentrt.store import UsageLedger


async def main(config: str) -> None:
    async with Runtime.open(config, plugins=False) as rt:
        request_id.set("audit-lag")
        await rt.generate("m", "hello there", user="alice", max_output_tokens=20)
        await rt.services.get(UsageLedger).flush()
        print("done", flush=True)
        time.sleep(600)  # noqa: ASYNC251 -- blocking on purpose: nothing else in this process runs until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
