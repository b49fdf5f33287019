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

Delivery semantics of a durable agent
-------------------------------------

- **Accepted means kept.** ``tell`` returns once the activity is journaled;
  a crash after that never loses it.
- **State: exactly once.** An activity's completion and the state it left are
  saved in one transaction, so the saved state reflects each activity once,
  never half, never twice. A state that does not validate as the agent's state
  type is refused before it is saved: the activity fails, the agent goes on
  from its last saved state.
- **Side effects: at least once.** A handler's effects outside the state (an
  e-mail, a payment, a call to another service) may happen twice: the process
  can die after the effect and before the save, and the activity is then
  delivered again, with ``activity.redelivered`` True. Only that one is
  flagged: the activity being processed (or next in line, its predecessor
  just saved) when the process stopped, not those still waiting behind it.
  Make such effects idempotent with ``activity.id`` as the key:
  it is the same on every delivery of the activity (pass it as the
  idempotency key of a payment API, or record the ids you have acted on).
- **One process at a time.** Processes sharing a store (PostgreSQL, a SQLite
  file) each run the agents they hold a lease on; a process that stalls past
  its lease loses the agent to another, which redelivers the interrupted
  activity, and the stalled one's late saves are refused.

Where agents run: ``agents_backend.kind`` in the configuration. ``local`` (the
default) is :class:`AgentRuntime`, on this event loop; ``ray`` is
:class:`agentrt.agents.ray.RayAgents`, agents in shard hosts on a Ray cluster.
Both are an :class:`AgentBackend`: the same commands, and reads as coroutines
(``find``, ``fetch_state``, ``fetch_stats``, ``fetch_list``, ``watch``) that
work wherever the agent lives.

Failures: transient errors (a rate limit, a budget period, a provider down or
slow) retry the activity after the wait they name, with backoff, without
counting as crashes. Other errors apply the restart policy; restarts back off.
An agent that used up its restarts is ``failed``: listed with the reason, its
mailbox (and journal) kept, until it is resumed (``rt.agents.resume(id)``,
``agentrt agents resume ID``) or terminated.
"""

from agentrt.agents.activity import Activity, Priority, PriorityLike, priority_value
from agentrt.agents.agent import Agent, StateCodec
from agentrt.agents.backend import AgentBackend, EventStream
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
from agentrt.agents.persistence import AgentStore, LeaseLost, MemoryAgentStore, StoredActivity, StoredAgent
from agentrt.agents.registry import AgentType
from agentrt.agents.runtime import AgentRuntime

__all__ = [
    "Activity",
    "ActivityFailed",
    "ActivityProcessed",
    "Agent",
    "AgentBackend",
    "AgentContext",
    "AgentEvent",
    "AgentInfo",
    "AgentRestarted",
    "AgentRuntime",
    "AgentStats",
    "AgentStatus",
    "AgentStore",
    "AgentType",
    "EventStream",
    "EventsDropped",
    "LeaseLost",
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
