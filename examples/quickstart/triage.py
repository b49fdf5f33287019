"""A small support desk of agents: a triage agent routes tickets to specialists, by priority.

- ``Triage`` reads each incoming ticket, picks a specialist (billing or tech)
  and a priority from its words, and hands the ticket on with ``ctx.send``.
- ``Specialist`` (one agent for billing, one for tech) answers each ticket it
  gets with ``ctx.generate`` on the offline model. Its mailbox delivers the
  most urgent ticket first, whatever the order they arrived in.

The agent types come from agentrt.yaml::

    agents:
      triage:  {class: "triage:Triage", model: default}
      billing: {class: "triage:Specialist", model: default}
      tech:    {class: "triage:Specialist", model: default}

``run_demo(rt)`` spawns the three agents, sends them a morning's tickets and
prints who got what, in which order, and why.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from agentrt.agents import Activity, Agent, AgentContext

# Words that route a ticket, and words that make it urgent: the triage agent's whole knowledge.
ROUTES: dict[str, tuple[str, ...]] = {
    "billing": ("invoice", "refund", "charge", "charged", "payment", "billing", "vat"),
    "tech": ("error", "crash", "login", "password", "timeout", "bug", "api", "down"),
}
URGENCY: list[tuple[str, tuple[str, ...]]] = [
    ("critical", ("outage", "down", "all users", "security")),
    ("high", ("urgent", "asap", "blocked", "twice")),
    ("low", ("question", "whenever", "curious", "feature")),
]

TICKETS: list[dict[str, str]] = [
    {"id": "T-101", "customer": "acme", "text": "Question about the VAT line on my invoice, whenever you can"},
    {"id": "T-102", "customer": "globex", "text": "Login error since this morning for one user"},
    {"id": "T-103", "customer": "initech", "text": "We were charged twice this month, please refund asap"},
    {"id": "T-104", "customer": "umbrella", "text": "API is down for all users: outage!"},
    {"id": "T-105", "customer": "acme", "text": "Curious whether the API could offer a CSV export feature"},
    {"id": "T-106", "customer": "hooli", "text": "Payment failed and our account is blocked, urgent"},
    {"id": "T-107", "customer": "globex", "text": "The dashboard shows a timeout error on the reports page"},
]


class Routing(BaseModel):
    """What the triage agent decided about one ticket, and why."""

    ticket: str
    specialist: str
    priority: str
    reason: str


class TriageState(BaseModel):
    routed: dict[str, int] = Field(default_factory=dict)  # specialist -> tickets sent


class Triage(Agent[TriageState]):
    """Routes tickets by their words; never answers them itself."""

    async def handle(self, activity: Activity, ctx: AgentContext[TriageState]) -> Routing:
        ticket: dict[str, Any] = activity.payload
        routing = classify(ticket)
        ctx.state.routed[routing.specialist] = ctx.state.routed.get(routing.specialist, 0) + 1
        await ctx.send(routing.specialist, ticket, priority=routing.priority, type="ticket")
        print(
            f"  triage   {routing.ticket} -> {routing.specialist:<7} {routing.priority:<8} ({routing.reason})",
            flush=True,
        )
        return routing


def classify(ticket: dict[str, Any]) -> Routing:
    """The specialist whose words the ticket uses most (tech on a tie or none), and its urgency."""
    text = ticket["text"].lower()
    words = set(re.findall(r"[a-z]+", text))
    hits = {route: [w for w in keys if w in words] for route, keys in ROUTES.items()}
    specialist = max(hits, key=lambda route: (len(hits[route]), route == "tech"))
    priority, urgent_words = "normal", []
    for level, keys in URGENCY:
        urgent_words = [k for k in keys if k in text]
        if urgent_words:
            priority = level
            break
    because = ", ".join(hits[specialist]) or "no routing word: tech by default"
    if urgent_words:
        because += f"; {priority} because of {', '.join(urgent_words)}"
    return Routing(ticket=ticket["id"], specialist=specialist, priority=priority, reason=because)


class Handled(BaseModel):
    ticket: str
    priority: str
    reply: str
    tokens: int


class SpecialistState(BaseModel):
    handled: list[Handled] = Field(default_factory=list)


class Specialist(Agent[SpecialistState]):
    """Answers tickets through the model, the most urgent first (the mailbox sees to that)."""

    async def handle(self, activity: Activity, ctx: AgentContext[SpecialistState]) -> Handled:
        ticket: dict[str, Any] = activity.payload
        completion = await ctx.generate(
            ticket["text"],
            system=f"You are the {ctx.id} specialist of a support desk; {ticket['customer']} wrote. One sentence.",
        )
        done = Handled(
            ticket=ticket["id"],
            priority=activity.priority_name,
            reply=completion.text,
            tokens=completion.usage.total_tokens,
        )
        ctx.state.handled.append(done)
        print(f"  {ctx.id:<8} answers {done.ticket} [{done.priority}]: {done.reply[:60]}", flush=True)
        return done


async def run_demo(rt: Any) -> None:
    """Spawn the desk, send it the tickets, wait until every one is answered, and summarise."""
    agents = rt.agents
    for agent_type in ("triage", "billing", "tech"):
        await agents.spawn(agent_type, agent_type, exist_ok=True)

    print(f"\n{len(TICKETS)} tickets arrive at the triage agent, in this order:")
    for ticket in TICKETS:
        print(f"  {ticket['id']}  {ticket['customer']:<9} {ticket['text']}")
        await agents.tell("triage", ticket, type="ticket")

    print("\ntriage routes each one (and the specialists start once it is done):")
    await agents.wait_idle()

    print("\nwho answered what, in which order (most urgent first, then first come, first served):")
    for specialist in ("billing", "tech"):
        handled: list[Handled] = agents.state(specialist).handled
        order = ", ".join(f"{h.ticket} ({h.priority})" for h in handled[-_count_for(specialist):])
        stats = agents.stats(specialist).mailbox
        print(
            f"  {specialist:<8} {order}\n"
            f"           {stats.processed} processed, {stats.failed} failed, "
            f"at most {stats.max_depth} waiting, {stats.processing_seconds * 1000:.1f} ms of work"
        )
    tokens = sum(h.tokens for s in ("billing", "tech") for h in agents.state(s).handled[-_count_for(s):])
    print(f"  model usage for these answers: {tokens} tokens on the offline model (costs below)")


def _count_for(specialist: str) -> int:
    """How many of this run's tickets went to ``specialist`` (a durable desk remembers earlier runs)."""
    return sum(1 for t in TICKETS if classify(t).specialist == specialist)


__all__ = ["Specialist", "Triage", "classify", "run_demo"]
