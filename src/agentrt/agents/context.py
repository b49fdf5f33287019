"""``AgentContext``: what a handler gets besides the activity.

Through it a handler reads and replaces its state, talks to other agents
(``send``, ``ask``, ``spawn``) and calls models (``generate``, ``stream``,
``generate_object``, ``embed``) as its own principal: ``user`` is the agent
type's configured user or else the agent's id, ``tenant`` its configured
tenant, so policies, rate limits and budgets apply per agent. ``model``
defaults to the agent type's configured model::

    async def handle(self, activity, ctx):
        reply = await ctx.generate(f"Answer this ticket: {activity.payload['text']}")
        await ctx.send("audit", {"ticket": ctx.id, "reply": reply.text}, priority="low")
        return reply.text
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import structlog

from agentrt.agents.activity import Activity, PriorityLike
from agentrt.errors import ModelError, RuntimeStateError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from agentrt.agents.instance import AgentInstance
    from agentrt.agents.runtime import AgentRuntime
    from agentrt.calls import CallPipeline, Principal, Prompt
    from agentrt.types import Completion, Embeddings, StreamEvent

    M = TypeVar("M", bound=BaseModel)

__all__ = ["AgentContext"]

State = TypeVar("State")

_MISSING: Any = object()


class AgentContext(Generic[State]):
    """The handler's view of its agent and of the runtime. One per activity (and one for each hook)."""

    __slots__ = ("_instance", "activity", "runtime")

    def __init__(self, instance: AgentInstance, runtime: AgentRuntime, activity: Activity | None) -> None:
        self._instance = instance
        self.runtime = runtime
        self.activity = activity
        """The activity being processed (None in ``on_start``/``on_stop``)."""

    # --- the agent -------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._instance.id

    @property
    def agent_type(self) -> str:
        return self._instance.kind.name

    @property
    def state(self) -> State:
        """The agent's state; mutate it in place or replace it with :meth:`set_state`."""
        return self._instance.state  # type: ignore[no-any-return]

    def set_state(self, state: State | dict[str, Any]) -> None:
        """Replace the state (a dict is validated into the state type)."""
        self._instance.state = self._instance.kind.codec.initial(state)

    @property
    def log(self) -> Any:
        """A structlog logger bound to this agent and activity."""
        activity = self.activity
        return structlog.get_logger("agentrt.agents").bind(
            agent=self.id, agent_type=self.agent_type, activity=activity.id if activity else None
        )

    @property
    def principal(self) -> Principal:
        """Whom this agent's model calls are for."""
        from agentrt.calls import Principal

        kind = self._instance.kind
        return Principal(kind.user or self.id, kind.tenant)

    # --- other agents ---------------------------------------------------------------------

    async def send(
        self,
        agent: str,
        payload: Any,
        *,
        priority: PriorityLike = "normal",
        type: str = "message",
    ) -> Activity:
        """Tell ``agent`` (returns once queued). The activity carries this agent as ``reply_to`` and the
        current activity's correlation id."""
        return await self.runtime._tell(
            agent,
            payload,
            priority,
            type,
            reply_to=self.id,
            correlation_id=self._correlation_id(),
            internal=True,
        )

    async def ask(
        self,
        agent: str,
        payload: Any,
        *,
        timeout: float | None = None,
        priority: PriorityLike = "normal",
        type: str = "message",
    ) -> Any:
        """Ask ``agent`` and wait for its handler's result (or its error). Asking an agent that is,
        directly or through others, waiting for this one raises ``AgentError`` instead of deadlocking."""
        return await self.runtime._ask(
            agent,
            payload,
            timeout,
            priority,
            type,
            reply_to=self.id,
            correlation_id=self._correlation_id(),
            asker=self._instance,
        )

    async def spawn(self, agent_type: str, agent: str, *, state: Any = None, exist_ok: bool = False) -> str:
        """Start another agent (see :meth:`AgentRuntime.spawn`)."""
        return await self.runtime.spawn(agent_type, agent, state=state, exist_ok=exist_ok)

    def _correlation_id(self) -> str | None:
        activity = self.activity
        return activity.correlation_id if activity is not None else None

    # --- models ---------------------------------------------------------------------------

    @overload
    async def generate(self, prompt: Prompt, /, **options: Any) -> Completion: ...
    @overload
    async def generate(self, model: str, prompt: Prompt, /, **options: Any) -> Completion: ...

    async def generate(self, first: Any, second: Any = _MISSING, /, **options: Any) -> Completion:
        """``ctx.generate(prompt)`` with the agent type's model, or ``ctx.generate(model, prompt)``; the
        options are those of :meth:`agentrt.Runtime.generate`. The call is made as this agent's principal."""
        model, prompt = self._model_and_prompt(first, second, options)
        return await self._calls().generate(model, prompt, **self._as_agent(options))

    @overload
    def stream(self, prompt: Prompt, /, **options: Any) -> AsyncIterator[StreamEvent]: ...
    @overload
    def stream(self, model: str, prompt: Prompt, /, **options: Any) -> AsyncIterator[StreamEvent]: ...

    def stream(self, first: Any, second: Any = _MISSING, /, **options: Any) -> AsyncIterator[StreamEvent]:
        """Like :meth:`generate`, as events (``TextDelta``, ``ToolCallDelta``, then ``Completed``)."""
        model, prompt = self._model_and_prompt(first, second, options)
        return self._calls().stream(model, prompt, **self._as_agent(options))

    @overload
    async def generate_object(self, prompt: Prompt, /, *, schema: type[M], **options: Any) -> M: ...
    @overload
    async def generate_object(self, model: str, prompt: Prompt, /, *, schema: type[M], **options: Any) -> M: ...

    async def generate_object(self, first: Any, second: Any = _MISSING, /, *, schema: type[M], **options: Any) -> M:
        """A validated instance of the pydantic model ``schema`` (see :meth:`agentrt.Runtime.generate_object`)."""
        from agentrt.calls import generate_object

        model, prompt = self._model_and_prompt(first, second, options)
        return await generate_object(self._calls(), model, prompt, schema=schema, **self._as_agent(options))

    async def embed(self, inputs: str | Sequence[str], *, model: str | None = None, **options: Any) -> Embeddings:
        """One vector per input text, with ``model`` or the agent type's model."""
        return await self._calls().embed(self._model(model), inputs, **self._as_agent(options))

    def _calls(self) -> CallPipeline:
        calls = self.runtime.calls
        if calls is None:
            raise RuntimeStateError(
                f"agent {self.id!r} cannot call models: this agent runtime has no call pipeline "
                "(run agents inside `Runtime.open(...)`, or pass calls= to AgentRuntime)"
            )
        return calls

    def _model_and_prompt(self, first: Any, second: Any, options: dict[str, Any]) -> tuple[str, Any]:
        if second is _MISSING:
            return self._model(options.pop("model", None)), first
        if "model" in options:
            raise TypeError("the model was given twice: as the first argument and as model=")
        return first, second

    def _model(self, model: str | None) -> str:
        if model is not None:
            return model
        kind = self._instance.kind
        if kind.model is None:
            raise ModelError(
                f"agent type {kind.name!r} has no model configured: set agents.{kind.name}.model "
                "(or model= when you register it), or name the model in the call"
            )
        return kind.model

    def _as_agent(self, options: dict[str, Any]) -> dict[str, Any]:
        # An explicit principal, user or tenant wins (an agent acting for a customer); what is not
        # given comes from the agent.
        if "principal" not in options:
            from agentrt.calls import Principal

            kind = self._instance.kind
            user = options.pop("user", None) or kind.user or self.id
            tenant = options.pop("tenant", None) or kind.tenant
            options["principal"] = Principal(user, tenant)
        return options
