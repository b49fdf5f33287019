"""Agent types: the class that implements one and how its instances run.

A type is registered from code (``rt.agents.register("support", Support,
model="default", mailbox={"size": 100}, durable=True)``) or from the
configuration (``agents.support.class: myapp.agents:Support``); both produce
the same :class:`AgentType`, shared by every instance of that type.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentrt.agents.agent import Agent, StateCodec
from agentrt.config import AgentSection, MailboxSection, RestartSection
from agentrt.errors import ConfigError, ConfigProblem

__all__ = ["AgentType", "agent_type_from_section", "load_agent_class"]


@dataclass(frozen=True, slots=True, eq=False)
class AgentType:
    """One registered agent type. ``codec`` builds, validates and (de)serialises its state."""

    name: str
    cls: type[Agent[Any]]
    model: str | None
    mailbox: MailboxSection
    restart: RestartSection
    durable: bool
    user: str | None
    tenant: str | None
    codec: StateCodec
    has_on_start: bool
    has_on_stop: bool
    keeps_snapshot: bool
    """Whether instances keep their last good state as JSON: to save it (durable), or to restart from it."""
    tools: tuple[str, ...] = ()
    """Registry tool names or globs its context offers the model when a call names no ``tools``."""

    @classmethod
    def build(
        cls,
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
    ) -> AgentType:
        """A type from code; ``mailbox`` and ``restart`` take the same keys as the configuration."""
        if not name:
            raise ValueError("an agent type needs a non-empty name")
        if not (isinstance(agent_class, type) and issubclass(agent_class, Agent)):
            raise TypeError(
                f"agent type {name!r}: {agent_class!r} is not a subclass of agentrt.agents.Agent; "
                "write `class MyAgent(Agent[MyState])` with an `async def handle(self, activity, ctx)`"
            )
        if agent_class.handle is Agent.handle:
            raise TypeError(f"agent type {name!r}: {agent_class.__qualname__} must implement handle()")
        if durable and not agent_class.state_codec.json_capable:
            raise TypeError(
                f"agent type {name!r} is durable, so its state must be JSON-serialisable, and pydantic cannot "
                f"serialise {agent_class.state_type!r}: use a pydantic model, a dataclass or plain JSON types"
            )
        restart_policy: RestartSection = _section(RestartSection, restart)
        return cls(
            name,
            agent_class,
            model,
            _section(MailboxSection, mailbox),
            restart_policy,
            durable,
            user,
            tenant,
            agent_class.state_codec,
            agent_class.on_start is not Agent.on_start,
            agent_class.on_stop is not Agent.on_stop,
            durable or restart_policy.strategy == "restart",
            tuple(tools),
        )


def _section(kind: Any, value: Any) -> Any:
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    return kind.model_validate(value)


def load_agent_class(reference: str, *, path: str = "") -> type[Agent[Any]]:
    """The class named by ``"package.module:Class"``; a ``ConfigError`` at ``path`` when it cannot be used."""
    module_name, _, qualname = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise ConfigError(
            [ConfigProblem(path, f"cannot import {reference}: {err}; check the module is on the Python path")]
        ) from None
    if not (isinstance(target, type) and issubclass(target, Agent)):
        raise ConfigError(
            [ConfigProblem(path, f"{reference} is not a subclass of agentrt.agents.Agent")]
        )
    return target


def agent_type_from_section(name: str, section: AgentSection) -> AgentType:
    """The type ``agents.<name>`` of the configuration describes."""
    agent_class = load_agent_class(section.class_, path=f"agents.{name}.class")
    return AgentType.build(
        name,
        agent_class,
        model=section.model,
        mailbox=section.mailbox,
        restart=section.restart,
        durable=section.durable,
        user=section.user,
        tenant=section.tenant,
        tools=section.tools,
    )
