"""The base class of agent types: ``class Support(Agent[SupportState])``.

An agent type implements :meth:`Agent.handle`; its state type (a pydantic
model, a dataclass, or any type pydantic can validate) is read from the generic
parameter, so the runtime can build the initial state, validate a state given
as a dict, and save and reload it (durable agents, restarts)::

    @dataclass
    class Counter:
        count: int = 0

    class Tally(Agent[Counter]):
        async def handle(self, activity: Activity, ctx: AgentContext[Counter]) -> int:
            ctx.state.count += activity.payload
            return ctx.state.count
"""

from __future__ import annotations

import copy
import typing
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import PydanticSchemaGenerationError, TypeAdapter

if TYPE_CHECKING:
    from agentrt.agents.activity import Activity
    from agentrt.agents.context import AgentContext
    from agentrt.agents.instance import AgentInstance

__all__ = ["Agent", "StateCodec"]

State = TypeVar("State")


class StateCodec:
    """How one agent type's state is built, validated, copied and turned into JSON and back.

    One per agent type, shared by its instances (a ``TypeAdapter`` is costly to
    build, so it is built on first use). A state type pydantic cannot handle
    still works for agents that are not durable: their snapshots (what a
    restart goes back to) are deep copies instead of JSON text.
    """

    __slots__ = ("_adapter", "_json_capable", "state_type")

    def __init__(self, state_type: Any) -> None:
        self.state_type = state_type
        self._adapter: TypeAdapter[Any] | None = None
        self._json_capable: bool | None = None

    @property
    def json_capable(self) -> bool:
        """Whether pydantic can validate and serialise the state type (what durable agents need)."""
        if self._json_capable is None:
            try:
                self._adapter = TypeAdapter(self.state_type)
            except PydanticSchemaGenerationError:
                self._json_capable = False
            else:
                self._json_capable = True
        return self._json_capable

    @property
    def adapter(self) -> TypeAdapter[Any]:
        if not self.json_capable:
            raise TypeError(
                f"the state type {_name(self.state_type)} cannot be serialised (pydantic has no schema for it): "
                "use a pydantic model, a dataclass or plain JSON types for a durable agent's state"
            )
        assert self._adapter is not None
        return self._adapter

    def initial(self, given: Any) -> Any:
        """The state an agent starts with: ``given`` (validated when it is not already the state type),
        else the state type built without arguments, else None."""
        if given is None:
            if self.state_type is Any or self.state_type is None or self.state_type is type(None):
                return None
            try:
                return self.state_type()
            except TypeError as err:
                raise ValueError(
                    f"the state type {_name(self.state_type)} cannot be built without arguments ({err}): "
                    "pass state=... when you spawn the agent"
                ) from None
        if isinstance(self.state_type, type) and isinstance(given, self.state_type):
            return given
        if not self.json_capable:
            return given
        return self.adapter.validate_python(given)

    def dump(self, state: Any) -> Any:
        """The state as JSON-compatible Python data (a deep copy when the type is not JSON-capable)."""
        if state is None:
            return None
        if not self.json_capable:
            return copy.deepcopy(state)
        return self.adapter.dump_python(state, mode="json")

    def to_text(self, state: Any) -> str:
        """The state as JSON text; the one shared ``"null"`` for None (idle agents hold many of these)."""
        return self.adapter.dump_json(state).decode() if state is not None else "null"

    def checked_text(self, state: Any) -> str:
        """The state as JSON text that :meth:`from_text` reads back; the validation error otherwise.
        (Serialised quietly: a value of the wrong type is reported by the validation, not as a warning.)"""
        text = "null" if state is None else self.adapter.dump_json(state, warnings=False).decode()
        self.from_text(text)
        return text

    def from_text(self, text: str) -> Any:
        """The state back from :meth:`to_text`."""
        if text == "null" and self.state_type in (Any, None, type(None)):
            return None
        return self.adapter.validate_json(text)

    def snapshot(self, state: Any) -> Any:
        """A copy of ``state`` that later changes to it do not touch: JSON text when possible."""
        if state is None:
            return "null"
        return self.to_text(state) if self.json_capable else copy.deepcopy(state)

    def restore(self, snapshot: Any) -> Any:
        """A fresh state from :meth:`snapshot` (each call a new object)."""
        if snapshot == "null":
            return self.initial(None) if self.state_type not in (Any, None, type(None)) else None
        return self.from_text(snapshot) if self.json_capable else copy.deepcopy(snapshot)


def _name(tp: Any) -> str:
    return getattr(tp, "__qualname__", None) or repr(tp)


class Agent(Generic[State]):
    """Base of agent types. Subclass it with the state type as parameter and implement :meth:`handle`.

    One object serves one agent instance for its life (a ``restart`` builds a
    fresh one). It is built without arguments; :meth:`on_start` runs before the
    first activity, with a context, and :meth:`on_stop` when the agent is
    terminated or the runtime closes. ``self.id`` and ``self.state`` are the
    instance's id and current state.
    """

    state_type: ClassVar[Any] = Any
    """The state type, read from ``Agent[StateType]``; ``Any`` when the subclass names none."""
    state_codec: ClassVar[StateCodec]

    # Set by the runtime right after building the object; before that (in __init__) unset.
    _instance: AgentInstance

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        state_type = _state_type_of(cls)
        if state_type is not None:  # else the parent's state type and codec are inherited
            cls.state_type = state_type
            cls.state_codec = StateCodec(state_type)

    @property
    def id(self) -> str:
        """The agent instance's id."""
        return self._instance.id

    @property
    def state(self) -> State:
        """The agent's current state (mutable; changes are saved after each activity for durable agents)."""
        return self._instance.state  # type: ignore[no-any-return]

    @state.setter
    def state(self, value: State) -> None:
        self._instance.state = value

    async def handle(self, activity: Activity, ctx: AgentContext[State]) -> Any:
        """Process one activity; what it returns is the answer to an ``ask``. Raise to fail it."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement `async def handle(self, activity, ctx)`")

    async def on_start(self, ctx: AgentContext[State]) -> None:
        """Runs when the instance starts (spawn, restore after a crash, restart), before any activity."""

    async def on_stop(self, ctx: AgentContext[State]) -> None:
        """Runs when the instance stops (terminate, runtime close), after its mailbox was drained."""


Agent.state_codec = StateCodec(Any)


def _state_type_of(cls: type) -> Any | None:
    """The ``X`` of the nearest ``Agent[X]`` among ``cls``'s original bases, or None."""
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        if isinstance(origin, type) and issubclass(origin, Agent):
            args = typing.get_args(base)
            if args and not isinstance(args[0], TypeVar):
                return args[0]
    return None
