"""Helpers for the agents tests: small agent types, and a Runtime with the agents service.
(A plain module imported as ``agents_support``: the test folders are not packages.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime


@dataclass
class Tally:
    count: int = 0
    seen: list[Any] = field(default_factory=list)


class Recorder(Agent[Tally]):
    """Counts and records payloads; a payload {"fail": msg} raises RuntimeError(msg)."""

    async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> Any:
        payload = activity.payload
        if isinstance(payload, dict) and "fail" in payload:
            ctx.state.count += 100  # a change a restart must undo
            raise RuntimeError(payload["fail"])
        ctx.state.count += 1
        ctx.state.seen.append(payload)
        return ctx.state.count


class Gated(Agent[Tally]):
    """Waits on the class-level gate before each activity: tests decide when it may go on."""

    gate: asyncio.Semaphore | None = None
    started: asyncio.Queue[Any] | None = None  # the payload of each activity as it starts

    async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> Any:
        assert self.gate is not None
        if self.started is not None:
            self.started.put_nowait(activity.payload)
        await self.gate.acquire()
        ctx.state.seen.append(activity.payload)
        return activity.payload


class Echoer(Agent[Tally]):
    """Answers through the model: ``{"text": ...}`` goes to ctx.generate with the type's model."""

    async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> Any:
        ctx.state.count += 1
        if activity.payload == "fail":
            raise ValueError("the echoer refuses")
        text = activity.payload["text"] if isinstance(activity.payload, dict) else str(activity.payload)
        return {"reply": (await ctx.generate(text)).text, "count": ctx.state.count}


def gated(rt: AgentRuntime, name: str = "gated", **options: Any) -> type[Gated]:
    """A fresh Gated subclass (its own gate) registered as ``name``."""
    cls = type(f"Gated_{name}", (Gated,), {"gate": asyncio.Semaphore(0), "started": asyncio.Queue()})
    rt.register(name, cls, **options)
    return cls


async def started_runtime(**kwargs: Any) -> AgentRuntime:
    rt = AgentRuntime(**kwargs)
    rt.register("recorder", Recorder, restart={"strategy": "resume"})
    await rt.start()
    return rt


def agents_of(rt: Runtime) -> AgentRuntime:
    agents = getattr(rt, "agents", None)
    return agents if isinstance(agents, AgentRuntime) else rt.services.get(AgentRuntime)


def missing_agent_services() -> list[Any]:
    """The store and agents services, for those the runtime does not register yet."""
    from agentrt._builtin_services import builtin_services
    from agentrt.agents.service import agents_service
    from agentrt.services import definition_of
    from agentrt.store import Store
    from agentrt.store.service import store_service

    provided = {definition.provides for definition in builtin_services()}
    wanted = [(Store, store_service), (AgentRuntime, agents_service)]
    return [definition_of(fn) for key, fn in wanted if key not in provided]


def with_agents(rt: Runtime) -> Runtime:
    """Make sure ``rt`` runs the store and agents services, whether or not they are built in yet."""
    for definition in missing_agent_services():
        rt.override(definition.provides, definition)
    return rt


def local_config(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    """A runtime config on the offline `local` provider and a SQLite store in tmp_path."""
    config: dict[str, Any] = {
        "logging": {"console": {"format": "off"}, "file": {"path": str(tmp_path / "log.jsonl")}},
        "store": {"url": f"sqlite:///{tmp_path / 'agentrt.db'}"},
        "providers": {"offline": {"kind": "local"}},
        "models": {
            "local-small": {
                "provider": "offline",
                "name": "echo",
                "capabilities": ["chat", "json", "streaming", "embeddings"],
                "pricing": {"input": 0.0, "output": 0.0},
                "aliases": ["default"],
            }
        },
    }
    config.update(sections)
    return config


def store_url_for(request: Any, kind: str, tmp_path: Path) -> str:
    """A store URL of ``kind`` (``sqlite`` or ``postgresql``, a fresh schema) for this test."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'agents.db'}"
    url: str = request.getfixturevalue("pg_agents_url")
    return url
