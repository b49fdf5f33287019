"""An agent whose tools come from an MCP server, one of which needs a person's approval."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from agentrt.agents import Activity, Agent, AgentContext


class DeskState(BaseModel):
    answered: int = 0


class OrdersDesk(Agent[DeskState]):
    """Answers order questions; its model calls the `orders.*` tools its agent type lists in the config."""

    async def handle(self, activity: Activity, ctx: AgentContext[DeskState]) -> str:
        completion = await ctx.generate(activity.payload["text"], system="You are the order desk. One sentence.")
        ctx.state.answered += 1
        return completion.text


class Supervisor(BaseModel):
    """Stands in for a person watching the approvals queue (in production: the dashboard or POST /v1/approvals)."""

    decided: list[str] = Field(default_factory=list)


async def supervise(rt: Any, events: Any, supervisor: Supervisor) -> None:
    """Approve each parked tool call as it arrives, saying what it was."""
    async for event in events:
        if event.kind != "requested":
            continue
        request = event.request
        print(f"   approval asked: {request.tool} {request.arguments} for {request.user or '-'} (id {request.id})")
        rt.tools.approve(request.id, by="supervisor")
        supervisor.decided.append(request.id)


async def run_orders_demo(rt: Any) -> None:
    """One question that needs a plain MCP tool, one that needs an approved one."""
    supervisor = Supervisor()
    events = rt.tools.subscribe()  # before any call, so no request is missed
    watcher = asyncio.create_task(supervise(rt, events, supervisor))
    try:
        await rt.agents.spawn("orders", "orders-desk", exist_ok=True)
        for text in ("What is the order status of A-1002?", "I want my money back for A-1002"):
            print(f"   customer: {text}")
            reply = await rt.agents.ask("orders-desk", {"text": text}, timeout=30)
            print(f"   desk:     {' '.join(str(reply).split())}")
    finally:
        watcher.cancel()
    status = rt.tools.status()["orders"]
    print(f"   the orders MCP server is {status.state}; {len(supervisor.decided)} call approved by a person")
