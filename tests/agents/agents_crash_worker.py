"""A process for the SIGKILL test: ``produce`` tells numbered activities to a durable agent and prints
each acknowledgement; ``restore`` opens the same store, lets the agent finish, and prints its state.
(Run as a script with this folder on PYTHONPATH.)"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field

from agents_support import agents_of, with_agents

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext


@dataclass
class Account:
    total: int = 0
    entries: list[int] = field(default_factory=list)
    redelivered: list[int] = field(default_factory=list)


class Accountant(Agent[Account]):
    async def handle(self, activity: Activity, ctx: AgentContext[Account]) -> int:
        n = activity.payload["n"]
        await asyncio.sleep(0.002)  # slower than the sender: a backlog builds up
        ctx.state.total += n
        ctx.state.entries.append(n)
        if activity.redelivered:
            ctx.state.redelivered.append(n)
        print(f"done {n}", flush=True)
        return ctx.state.total


async def produce(config: str, count: int) -> None:
    async with with_agents(Runtime.open(config, plugins=False)) as rt:
        agents = agents_of(rt)
        await agents.spawn("accountant", "acct", exist_ok=True)
        print("ready", flush=True)
        for n in range(1, count + 1):
            await agents.tell("acct", {"n": n})
            print(f"ack {n}", flush=True)
        await asyncio.sleep(60)  # killed before this ends


async def restore(config: str) -> None:
    async with with_agents(Runtime.open(config, plugins=False)) as rt:
        agents = agents_of(rt)
        await agents.wait_idle(timeout=30)
        state = agents.state("acct")
        print(json.dumps({"total": state.total, "entries": state.entries, "redelivered": state.redelivered}))


if __name__ == "__main__":
    mode, config_path = sys.argv[1], sys.argv[2]
    if mode == "produce":
        asyncio.run(produce(config_path, int(sys.argv[3])))
    else:
        asyncio.run(restore(config_path))
