"""Agent types of the multi-node tests. A module of its own, on the Ray workers' path (conftest's
``ray_cluster``), so the shard hosts import these classes by reference.
(A plain module imported as ``ray_agents``: the test folders are not packages.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrt.agents import Activity, Agent, AgentContext


@dataclass
class Book:
    """What a Ledger saw: each activity's id (the ``id`` of its payload), and which came redelivered."""

    seen: list[str] = field(default_factory=list)
    redelivered: list[str] = field(default_factory=list)


class Ledger(Agent[Book]):
    """Records each payload's ``id``. A payload ``{"id": ..., "hold": dir}`` writes ``dir/<id>.started`` and
    waits for ``dir/<id>.go`` before recording: a test decides when the activity may finish (files, since
    the test and the host are different processes). ``"fail": message`` records ``!<id>`` then raises
    RuntimeError(message) (a change a restart must undo); ``"sleep": seconds`` sleeps first; ``"sender"``
    records ``from <the sender's user>``."""

    async def handle(self, activity: Activity, ctx: AgentContext[Book]) -> Any:
        payload = activity.payload
        if activity.redelivered:
            ctx.state.redelivered.append(payload["id"])
        if "sleep" in payload:
            await asyncio.sleep(payload["sleep"])
        if "sender" in payload:  # who sent it, as the handler sees it
            sender = activity.sender
            ctx.state.seen.append(f"from {sender.user if sender is not None else None}")
        if "fail" in payload:
            ctx.state.seen.append(f"!{payload['id']}")
            raise RuntimeError(payload["fail"])
        hold = payload.get("hold")
        if hold is not None:
            await asyncio.to_thread(Path(hold, f"{payload['id']}.started").touch)
            go = Path(hold, f"{payload['id']}.go")
            while not await asyncio.to_thread(go.exists):  # noqa: ASYNC110 - the test, another process, decides
                await asyncio.sleep(0.02)
        ctx.state.seen.append(payload["id"])
        return len(ctx.state.seen)


class Relay(Agent[Book]):
    """``{"ask": other, "what": payload}``: asks another agent (another host, maybe another node), keeps
    and returns its answer."""

    async def handle(self, activity: Activity, ctx: AgentContext[Book]) -> Any:
        answer = await ctx.ask(activity.payload["ask"], activity.payload["what"])
        ctx.state.seen.append(str(answer))
        return answer


CONFIG_TYPES = {
    "ledger": {"class": "ray_agents:Ledger", "durable": True},
    "notes": {"class": "ray_agents:Ledger"},  # the same, not durable: lost with its host
    "relay": {"class": "ray_agents:Relay"},
    "resumer": {"class": "ray_agents:Ledger", "restart": {"strategy": "resume"}},
    "restarter": {"class": "ray_agents:Ledger", "restart": {"strategy": "restart", "backoff": 0.01}},
    "stopper": {"class": "ray_agents:Ledger", "restart": {"strategy": "stop"}},
    "fragile": {"class": "ray_agents:Ledger", "restart": {"strategy": "restart", "max_restarts": 1, "backoff": 0}},
    "small": {"class": "ray_agents:Ledger", "mailbox": {"size": 1, "when_full": "reject"}},
}
"""The types as configuration (``agents:``): the configuration travels to every shard host, and to a
host Ray restarts, so they exist wherever an agent is restored."""
