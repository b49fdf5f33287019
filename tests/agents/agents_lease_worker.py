"""A process for the two-process lease test: runs durable agent ``shared`` on the store at argv[1], tells it
argv[2] numbered activities (printing ``ack N`` for each), and works slowly (printing ``done N``) until killed.
(Run as a script with this folder on PYTHONPATH.)"""

from __future__ import annotations

import asyncio
import sys

import structlog
from test_agents_leases import Ledger

from agentrt.agents import AgentRuntime
from agentrt.agents.durable import StoreAgentStore
from agentrt.store import open_store


async def main(url: str, count: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # stdout is for the protocol
    async with open_store(url) as store:
        rt = AgentRuntime(store=StoreAgentStore(store, lease_ttl=1.0))
        rt.register("ledger", Ledger, durable=True)
        await rt.start()
        await rt.spawn("ledger", "shared", exist_ok=True)
        print("ready", flush=True)
        for n in range(1, count + 1):
            await rt.tell("shared", n)
            print(f"ack {n}", flush=True)
        await asyncio.sleep(60)  # killed before this ends


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
