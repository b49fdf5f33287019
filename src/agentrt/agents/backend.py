"""The seam between ``rt.agents`` and the place agents run: the protocols the rest depends on.

- :class:`AgentBackend` is what ``rt.agents``, the agents HTTP routes and the
  MCP server use: spawn, tell, ask, terminate, resume, and the reads
  (``find``, ``fetch_state``, ``fetch_stats``, ``fetch_list``, ``watch``),
  which are coroutines because the agent may live in another process. Two
  backends implement it: ``local`` (:class:`~agentrt.agents.AgentRuntime`,
  agents on this event loop; it also keeps its synchronous reads ``state()``,
  ``list()``... for code that runs next to its agents) and ``ray``
  (:class:`~agentrt.agents.ray.RayAgents`, agents in shard hosts on a Ray cluster).
- :class:`AgentEngine` is what an agent's context and its instance need of the
  machinery that runs them (sending to other agents, the call pipeline, the
  store, the supervisor's exits). Context and instance depend on it, not on
  ``AgentRuntime``, which is what broke the old import circle between them.
- :class:`Peers` is how a runtime that holds only some agents (a Ray shard
  host) reaches the others: ``ctx.send``/``ctx.ask``/``ctx.spawn`` to an agent
  of another shard go through it, host to host.

None of this imports an agent backend: importing the protocols costs nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agentrt.agents.activity import Activity, PriorityLike
    from agentrt.agents.agent import Agent
    from agentrt.agents.events import AgentEvent
    from agentrt.agents.instance import AgentInfo, AgentInstance, AgentStats
    from agentrt.agents.persistence import AgentStore
    from agentrt.agents.registry import AgentType
    from agentrt.calls import CallPipeline, Principal
    from agentrt.config import AgentSection, MailboxSection, RestartSection
    from agentrt.observability.tracing import Tracing

__all__ = ["AgentBackend", "AgentEngine", "EventStream", "Peers"]


class EventStream(Protocol):
    """An agent's events as ``watch`` returns them: an async iterator that ends when the agent does."""

    def __aiter__(self) -> AsyncIterator[AgentEvent]: ...

    async def __anext__(self) -> AgentEvent: ...

    async def aclose(self) -> None:
        """Stop receiving events; safe to call more than once."""
        ...


@runtime_checkable
class AgentBackend(Protocol):
    """Where agents run, as ``rt.agents`` and the server see it. Every method may cross a process."""

    kind: str
    """``local`` or ``ray``."""

    def types(self) -> dict[str, AgentType]:
        """The registered agent types by name."""
        ...

    def register(
        self,
        name: str,
        agent_class: type[Agent[Any]],
        *,
        model: str | None = None,
        mailbox: MailboxSection | Mapping[str, Any] | None = None,
        restart: RestartSection | Mapping[str, Any] | None = None,
        durable: bool = False,
        user: str | None = None,
        tenant: str | None = None,
        tools: Sequence[str] = (),
    ) -> AgentType: ...

    def register_section(self, name: str, section: AgentSection) -> AgentType: ...

    async def start(self) -> None: ...

    async def close(self, timeout: float | None = None) -> dict[str, int]: ...

    async def spawn(
        self,
        agent_type: str,
        agent_id: str,
        *,
        state: Any = None,
        exist_ok: bool = False,
        owner: Principal | None = None,
    ) -> str: ...

    def tell(
        self,
        agent_id: str,
        payload: Any,
        *,
        priority: PriorityLike = "normal",
        type: str = "message",
        correlation_id: str | None = None,
        sender: Principal | None = None,
    ) -> Coroutine[Any, Any, Activity]: ...

    def ask(
        self,
        agent_id: str,
        payload: Any,
        *,
        timeout: float | None = None,
        priority: PriorityLike = "normal",
        type: str = "message",
        correlation_id: str | None = None,
        sender: Principal | None = None,
    ) -> Coroutine[Any, Any, Any]: ...

    async def terminate(self, agent_id: str, *, drain: bool = True, timeout: float | None = None) -> int: ...

    async def resume(self, agent_id: str) -> None: ...

    async def find(self, agent_id: str) -> AgentInfo | None:
        """The agent's line of the list (owner and status included); None when no such agent is known."""
        ...

    async def fetch_state(self, agent_id: str) -> Any:
        """The agent's current state (``AgentNotFound`` when unknown). Remote backends return a copy."""
        ...

    async def fetch_stats(self, agent_id: str) -> AgentStats: ...

    async def fetch_list(self) -> list[AgentInfo]:
        """Every agent known, terminated and lost ones included, by id."""
        ...

    async def watch(self, agent_id: str, *, buffer: int = 256) -> EventStream:
        """The agent's events from now on (see :meth:`AgentRuntime.subscribe`)."""
        ...


class Peers(Protocol):
    """The agents a runtime does not hold itself: how a shard host reaches the other shards."""

    def here(self, agent_id: str) -> bool:
        """Whether ``agent_id`` belongs to the runtime asking (its shard), rather than to a peer."""
        ...

    async def send(self, agent_id: str, activity: Activity) -> None:
        """Queue ``activity`` at the peer that holds the agent; returns once it is queued there."""
        ...

    async def ask(self, agent_id: str, activity: Activity, timeout: float | None) -> Any:
        """Queue ``activity`` there and return the handler's result (its error raised here)."""
        ...

    async def spawn(
        self, agent_type: str, agent_id: str, state: Any, exist_ok: bool, owner: Principal | None
    ) -> str: ...


class AgentEngine(Protocol):
    """What an agent's context and instance need of the runtime that runs them."""

    calls: CallPipeline | None
    store: AgentStore | None
    tracing: Tracing | None
    _closing: bool

    async def spawn(
        self,
        agent_type: str,
        agent_id: str,
        *,
        state: Any = None,
        exist_ok: bool = False,
        owner: Principal | None = None,
    ) -> str: ...

    async def _tell(
        self,
        agent_id: str,
        payload: Any,
        priority: PriorityLike,
        type: str,
        reply_to: str | None,
        correlation_id: str | None,
        internal: bool,
        sender: Principal | None = None,
    ) -> Activity: ...

    async def _ask(
        self,
        agent_id: str,
        payload: Any,
        timeout: float | None,
        priority: PriorityLike,
        type: str,
        reply_to: str | None,
        correlation_id: str | None,
        asker: AgentInstance | None,
        sender: Principal | None = None,
        waiting: tuple[str, ...] | None = None,
    ) -> Any: ...

    def _lose(self, agent_id: str) -> None: ...

    async def _fail(self, instance: AgentInstance, reason: str) -> None: ...

    async def _stop_for_good(self, instance: AgentInstance, reason: str) -> None: ...
