"""Each agent type as an MCP tool that asks it: ``agents.<type>``.

Input: ``message`` (what the agent's handler gets as the activity's payload:
text, or any JSON value it understands), and optionally ``agent_id`` and
``timeout`` (seconds, default 60).

- Without ``agent_id`` the call is one question: a new instance of the type
  is spawned for it, asked, and terminated once it answered. Nothing is left
  behind, and no two calls share state.
- With ``agent_id`` the client holds a conversation: the first call spawns
  the instance (owned by the caller's tenant, as ``POST /v1/agents`` would),
  later calls ask the same instance, which keeps its state. An agent of that
  id that belongs to another tenant is answered as if it did not exist, and
  one of another type is refused. Such agents count against the tenant's
  ``max_agents`` and live until terminated (``DELETE /v1/agents/{id}``).

The caller's principal is the activity's sender, so the agent's model calls
run under the caller's policies and budgets (unless the type names its own).
Asking needs the ``agents:write`` scope, as ``/v1/agents/{id}/ask`` does.
"""

from __future__ import annotations

import inspect
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
import orjson
import structlog
from pydantic_core import to_jsonable_python

from agentrt.calls.principal import Principal
from agentrt.errors import AgentRTError
from agentrt.mcp_server._caller import AGENTS_SCOPE, Caller
from agentrt.mcp_server._convert import error_result

if TYPE_CHECKING:
    from agentrt.agents import AgentRuntime
    from agentrt.runtime import Runtime

__all__ = ["AGENT_PREFIX", "DEFAULT_TIMEOUT", "AgentTools"]

_log = structlog.get_logger("agentrt.mcp_server")

AGENT_PREFIX = "agents."
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0

_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"description": "What to ask the agent: text, or a JSON value its handler understands."},
        "agent_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "Talk to this instance, which keeps its state between calls (created on first use). "
            "Leave it out for a one-off question to a fresh instance.",
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_TIMEOUT,
            "description": f"Seconds to wait for the answer (default {DEFAULT_TIMEOUT:g}).",
        },
    },
    "required": ["message"],
    "additionalProperties": False,
}


class AgentTools:
    """The agent types of the runtime, as tools."""

    __slots__ = ("_rt", "_spawning")

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        # Spawns under way per owner: counted with the live agents, so concurrent calls cannot pass the cap.
        self._spawning: Counter[tuple[str | None, str | None]] = Counter()

    def _agents(self) -> AgentRuntime | None:
        try:
            from agentrt.agents import AgentRuntime
        except ImportError:  # pragma: no cover - an install without the agents package
            return None
        services = self._rt.services
        return services.get(AgentRuntime) if AgentRuntime in services else None

    def type_names(self, caller: Caller) -> list[str]:
        agents = self._agents()
        if agents is None or not caller.allows(AGENTS_SCOPE):
            return []
        return sorted(agents.types())

    def listed(self, caller: Caller) -> list[types.Tool]:
        agents = self._agents()
        if agents is None or not caller.allows(AGENTS_SCOPE):
            return []
        tools = []
        for name, kind in sorted(agents.types().items()):
            doc = inspect.getdoc(kind.cls) or ""
            summary = doc.split("\n\n", 1)[0].strip()
            description = f"Ask the agent {name!r}." + (f" {summary}" if summary else "")
            tools.append(types.Tool(name=AGENT_PREFIX + name, description=description, input_schema=_INPUT_SCHEMA))
        return tools

    def has(self, caller: Caller, name: str) -> bool:
        return name.startswith(AGENT_PREFIX) and name[len(AGENT_PREFIX) :] in self.type_names(caller)

    async def call(self, caller: Caller, name: str, arguments: Mapping[str, Any]) -> types.CallToolResult:
        agents = self._agents()
        assert agents is not None  # `has` said the type exists
        agent_type = name[len(AGENT_PREFIX) :]
        problem = _check_arguments(arguments)
        if problem is not None:
            return error_result(f"{name}: {problem}")
        message = arguments["message"]
        timeout = float(arguments.get("timeout", DEFAULT_TIMEOUT))
        agent_id = arguments.get("agent_id")
        one_off = agent_id is None
        try:
            if agent_id is None:
                agent_id = f"mcp-{agent_type}-{uuid.uuid4().hex[:16]}"
                await self._spawn(agents, caller, agent_type, agent_id)
            else:
                refused = await self._reach(agents, caller, agent_type, agent_id)
                if refused is not None:
                    return error_result(refused)
            try:
                result = await agents.ask(agent_id, message, timeout=timeout, sender=caller.principal)
            finally:
                if one_off:  # an instance no one else can reach: stopped at once, its work if any cancelled
                    await agents.terminate(agent_id, drain=False, timeout=0)
        except AgentRTError as err:  # no such agent, terminated, mailbox full, no answer in time: our words
            return error_result(str(err))
        except Exception as err:  # the handler's own error: its text stays in the log, as on /v1/agents
            _log.warning("mcp_agent_failed", agent=agent_id, type=agent_type, error=type(err).__name__)
            return error_result(
                f"agent {agent_id!r} failed on this message: its handler raised {type(err).__name__} "
                "(details in the server's log)"
            )
        text = result if isinstance(result, str) else _json(result)
        structured = (
            {"agent_id": agent_id, "result": _jsonable(result)} if not one_off else {"result": _jsonable(result)}
        )
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=structured)

    async def _reach(self, agents: AgentRuntime, caller: Caller, agent_type: str, agent_id: str) -> str | None:
        """Spawn ``agent_id`` for a first message, or check the caller may ask the one there; a refusal's text.

        Reads through the coroutines every backend has: on Ray the blocking reads would hold the loop
        for a round trip to the agent's host.
        """
        info = await agents.find(agent_id)
        if info is not None and info.status.value != "terminated":
            owner = (
                None
                if info.owner_user is None and info.owner_tenant is None
                else Principal.of(info.owner_user, info.owner_tenant)
            )
            if not caller.sees(owner):
                return f"no agent {agent_id!r} of yours: pick another agent_id"
            if info.type != agent_type:
                return (
                    f"agent {agent_id!r} is a {info.type!r} agent, not {agent_type!r}: ask it with agents.{info.type}"
                )
            return None
        refused = await self._check_cap(agents, caller)
        if refused is not None:
            return refused
        await self._spawn(agents, caller, agent_type, agent_id)
        return None

    async def _spawn(self, agents: AgentRuntime, caller: Caller, agent_type: str, agent_id: str) -> None:
        owner = caller.owner
        slot = (owner.user, owner.tenant)
        self._spawning[slot] += 1
        try:
            await agents.spawn(agent_type, agent_id, owner=owner)
        finally:
            self._spawning[slot] -= 1
            if not self._spawning[slot]:
                del self._spawning[slot]

    async def _check_cap(self, agents: AgentRuntime, caller: Caller) -> str | None:
        limit = caller.max_agents if caller.max_agents is not None else self._rt.config.server.max_agents_per_tenant
        if limit is None:
            return None
        owner = caller.owner
        slot = (owner.user, owner.tenant)
        live = sum(
            1
            for info in await agents.fetch_list()
            if info.status.value != "terminated" and (info.owner_user, info.owner_tenant) == slot
        )
        if live + self._spawning[slot] >= limit:
            return (
                f"your tenant has {limit} live agents, its limit: terminate one first (DELETE /v1/agents/{{id}}), "
                "or leave agent_id out for a one-off question"
            )
        return None


def _check_arguments(arguments: Mapping[str, Any]) -> str | None:
    unknown = sorted(set(arguments) - {"message", "agent_id", "timeout"})
    if unknown:
        return f"unknown arguments {unknown}: it takes message, agent_id and timeout"
    if "message" not in arguments:
        return "the argument `message` is missing: what to ask the agent"
    agent_id = arguments.get("agent_id")
    if agent_id is not None and (not isinstance(agent_id, str) or not agent_id or len(agent_id) > 200):
        return "agent_id must be a non-empty string of at most 200 characters"
    timeout = arguments.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT:
        return f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}"
    return None


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str)


def _json(value: Any) -> str:
    return orjson.dumps(_jsonable(value)).decode()
