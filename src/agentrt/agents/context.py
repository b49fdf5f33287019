"""``AgentContext``: what a handler gets besides the activity.

Through it a handler reads and replaces its state, talks to other agents
(``send``, ``ask``, ``spawn``) and calls models (``generate``, ``stream``,
``generate_object``, ``embed``) for a principal, so that policies, rate limits
and budgets apply to whoever the work is for:

- the user or tenant the handler passes to the call, when it passes one;
- else the agent type's own, when it names one (``agents.<type>.user`` /
  ``tenant``; the user defaults to the agent's id);
- else the principal that sent the activity (``tell(..., sender=...)``; the
  server passes the API key's principal), so an agent cannot lend its
  caller rights the caller does not have;
- else the agent itself: user = the agent's id, no tenant.

``model`` defaults to the agent type's configured model::

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

    from agentrt.agents.backend import AgentEngine
    from agentrt.agents.instance import AgentInstance
    from agentrt.calls import CallPipeline, Principal, Prompt
    from agentrt.types import Completion, Embeddings, StreamEvent

    M = TypeVar("M", bound=BaseModel)

__all__ = ["AgentContext"]

State = TypeVar("State")

_MISSING: Any = object()


class AgentContext(Generic[State]):
    """The handler's view of its agent and of the runtime. One per activity (and one for each hook)."""

    __slots__ = ("_instance", "activity", "runtime")

    def __init__(self, instance: AgentInstance, runtime: AgentEngine, activity: Activity | None) -> None:
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
        """Whom this activity's model calls are for, unless a call names its own user or tenant."""
        from agentrt.calls import Principal

        kind = self._instance.kind
        if kind.user is None and kind.tenant is None:
            activity = self.activity
            if activity is not None and activity.sender is not None:
                return activity.sender
        return Principal(kind.user or self.id, kind.tenant)

    @property
    def owner(self) -> Principal | None:
        """Whom the agent belongs to (the principal that spawned it), when that was said."""
        return self._instance.owner

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
            sender=self._sender(),
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
            sender=self._sender(),
            waiting=self.activity._waiting if self.activity is not None else None,
        )

    async def spawn(self, agent_type: str, agent: str, *, state: Any = None, exist_ok: bool = False) -> str:
        """Start another agent (see :meth:`AgentRuntime.spawn`), owned by this agent's owner."""
        return await self.runtime.spawn(agent_type, agent, state=state, exist_ok=exist_ok, owner=self._instance.owner)

    def _correlation_id(self) -> str | None:
        activity = self.activity
        return activity.correlation_id if activity is not None else None

    def _sender(self) -> Principal | None:
        # The work an activity passes on is still for whoever sent it: the next agent's calls are theirs.
        activity = self.activity
        return activity.sender if activity is not None else None

    # --- models ---------------------------------------------------------------------------

    @overload
    async def generate(self, prompt: Prompt, /, **options: Any) -> Completion: ...
    @overload
    async def generate(self, model: str, prompt: Prompt, /, **options: Any) -> Completion: ...

    async def generate(self, first: Any, second: Any = _MISSING, /, **options: Any) -> Completion:
        """``ctx.generate(prompt)`` with the agent type's model, or ``ctx.generate(model, prompt)``; the
        options are those of :meth:`agentrt.Runtime.generate`. The call is made as this agent's principal."""
        model, prompt = self._model_and_prompt(first, second, options)
        return await self._calls().generate(model, prompt, **self._as_agent(self._with_tools(options)))

    @overload
    def stream(self, prompt: Prompt, /, **options: Any) -> AsyncIterator[StreamEvent]: ...
    @overload
    def stream(self, model: str, prompt: Prompt, /, **options: Any) -> AsyncIterator[StreamEvent]: ...

    def stream(self, first: Any, second: Any = _MISSING, /, **options: Any) -> AsyncIterator[StreamEvent]:
        """Like :meth:`generate`, as events (``TextDelta``, ``ToolCallDelta``, then ``Completed``)."""
        model, prompt = self._model_and_prompt(first, second, options)
        return self._calls().stream(model, prompt, **self._as_agent(self._with_tools(options)))

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

    def _with_tools(self, options: dict[str, Any]) -> dict[str, Any]:
        # agents.<type>.tools: the type's default tools for generate and stream, unless the call names its own.
        if "tools" not in options and self._instance.kind.tools:
            options["tools"] = list(self._instance.kind.tools)
        return options

    def _as_agent(self, options: dict[str, Any]) -> dict[str, Any]:
        # An explicit principal, user or tenant wins (an agent acting for a customer); what is not
        # given comes from the agent type, else from the activity's sender, else from the agent.
        if "principal" not in options:
            user = options.pop("user", None)
            tenant = options.pop("tenant", None)
            if user is None and tenant is None:
                options["principal"] = self.principal
            else:
                from agentrt.calls import Principal

                kind = self._instance.kind
                options["principal"] = Principal(user or kind.user or self.id, tenant or kind.tenant)
        return options
