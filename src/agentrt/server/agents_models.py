"""The agents API's request and response models: validation of what clients send, and the shapes of
the answers (the OpenAPI document is generated from them; the tests validate real answers against them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentrt.server.openai_models import by_kind, tag

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "AgentDetail",
    "AgentEventOut",
    "AgentList",
    "AgentOut",
    "Answer",
    "AskAgent",
    "MailboxOut",
    "SpawnAgent",
    "TellAgent",
    "Terminated",
    "Told",
]

# An ask without a timeout would hold its connection for as long as the agent takes: bound it.
DEFAULT_ASK_TIMEOUT = 60.0


class _In(BaseModel):
    # strict: "5" is not a number of seconds, as on the OpenAI routes.
    model_config = ConfigDict(extra="forbid", strict=True)


PriorityParam = Annotated[
    Annotated[Literal["low", "normal", "high", "critical"], tag("name")] | Annotated[int, tag("number")],
    by_kind(
        {"name": lambda v: isinstance(v, str), "number": lambda v: isinstance(v, int) and not isinstance(v, bool)},
        "priority must be low, normal, high, critical, or an int (higher first)",
    ),
]


class SpawnAgent(_In):
    type: str = Field(min_length=1, description="An agent type of the configuration (`agents.<type>`).")
    id: str = Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$")
    state: Any = Field(default=None, description="The initial state; validated into the type's state model.")


class TellAgent(_In):
    payload: Any = None
    priority: PriorityParam = Field(default="normal", description="A name, or an int: higher first.")
    type: str = Field(default="message", min_length=1)


class AskAgent(TellAgent):
    timeout: float = Field(default=DEFAULT_ASK_TIMEOUT, gt=0, le=3600, description="Seconds to wait for the answer.")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


AgentStatusOut = Literal["idle", "processing", "error", "terminated", "failed"]


class AgentOut(_Out):
    id: str
    type: str
    status: AgentStatusOut
    depth: int
    durable: bool


class AgentList(_Out):
    object: Literal["list"]
    data: list[AgentOut]


class MailboxOut(_Out):
    depth: int
    max_depth: int
    capacity: int
    enqueued: int
    processed: int
    failed: int
    processing_seconds: float
    waiting_senders: int


class AgentDetail(_Out):
    id: str
    type: str
    status: AgentStatusOut
    restarts: int
    mailbox: MailboxOut
    state: Any


class Told(_Out):
    agent: str
    activity_id: str
    priority: int


class Answer(_Out):
    agent: str
    result: Any


class Terminated(_Out):
    id: str
    status: Literal["terminated"]
    dropped: int


class AgentEventOut(BaseModel):
    """One event of ``/events`` (``kind``: status, state, result, error, restarted, dropped; or end)."""

    model_config = ConfigDict(extra="allow")
    kind: str
    agent: str
