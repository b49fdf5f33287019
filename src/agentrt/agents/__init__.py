"""Agents: actors with typed state, prioritised bounded mailboxes, supervision and durable state.

::

    from agentrt.agents import Activity, Agent, AgentContext

    class Support(Agent[Ticket]):
        async def handle(self, activity: Activity, ctx: AgentContext[Ticket]) -> str:
            reply = await ctx.generate(activity.payload["text"])
            ctx.state.replies += 1
            return reply.text

    rt.agents.register("support", Support, model="default", durable=True)
    await rt.agents.spawn("support", "ticket-42", state={"customer": "acme"})
    await rt.agents.tell("ticket-42", {"text": "my invoice is wrong"}, priority="high")
"""

from agentrt.agents.activity import Activity, Priority, PriorityLike, priority_value
from agentrt.agents.agent import Agent, StateCodec
from agentrt.agents.context import AgentContext
from agentrt.agents.events import (
    ActivityFailed,
    ActivityProcessed,
    AgentEvent,
    AgentRestarted,
    EventsDropped,
    StateChanged,
    StatusChanged,
    Subscription,
)
from agentrt.agents.instance import AgentInfo, AgentStats, AgentStatus
from agentrt.agents.mailbox import MailboxStats
from agentrt.agents.persistence import AgentStore, MemoryAgentStore, StoredActivity, StoredAgent
from agentrt.agents.registry import AgentType
from agentrt.agents.runtime import AgentRuntime

__all__ = [
    "Activity",
    "ActivityFailed",
    "ActivityProcessed",
    "Agent",
    "AgentContext",
    "AgentEvent",
    "AgentInfo",
    "AgentRestarted",
    "AgentRuntime",
    "AgentStats",
    "AgentStatus",
    "AgentStore",
    "AgentType",
    "EventsDropped",
    "MailboxStats",
    "MemoryAgentStore",
    "Priority",
    "PriorityLike",
    "StateChanged",
    "StateCodec",
    "StatusChanged",
    "StoredActivity",
    "StoredAgent",
    "Subscription",
    "priority_value",
]
