"""``agentrt run TYPE`` and ``agentrt agents list|state|resume``: agents from the shell.

``run`` boots the whole runtime (so policies, the store and logs apply),
spawns one agent, asks it once and prints its events as they come, then the
result. ``agents list`` and ``agents state`` only read the store: they show
durable agents without starting them (standard output carries the data only;
log lines go to standard error). ``agents resume`` marks a failed durable
agent active again: the process that holds it resumes it at its next lease
renewal, or the next process to start does.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrt.cli._common import (
    ConfigOption,
    EnvOption,
    fail,
    load,
    logging_to_stderr,
    reported_errors,
    run_async,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from agentrt.agents import AgentEvent
    from agentrt.agents.durable import StoreAgentStore
    from agentrt.agents.persistence import StoredAgent
    from agentrt.store import Store

app = typer.Typer(help="Durable agents in the store.", no_args_is_help=True, rich_markup_mode=None)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def run(
    agent_type: Annotated[str, typer.Argument(help="An agent type from the configuration (agents.<type>).")],
    agent_id: Annotated[
        str | None, typer.Option("--id", help="The agent's id. Default: the type's name.", show_default=False)
    ] = None,
    input_text: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="The payload: JSON, or plain text (sent as a string); '-' reads it from standard input.",
        ),
    ] = None,
    priority: Annotated[
        str, typer.Option("--priority", "-p", help="critical, high, normal, low, or a number (higher first).")
    ] = "normal",
    timeout: Annotated[
        float | None, typer.Option("--timeout", "-t", help="Seconds to wait for the answer. Default: no limit.")
    ] = None,
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Start the runtime, spawn the agent (or reuse a restored durable one), ask it once with the input,
    print its events as they happen (standard error) and its answer (standard output, as JSON)."""
    from agentrt.agents import priority_value

    try:
        level = priority_value(int(priority) if priority.lstrip("-").isdigit() else priority)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--priority") from None
    payload = _payload(input_text)
    with reported_errors():
        ok, result = run_async(_run(config, env, agent_type, agent_id or agent_type, payload, level, timeout))
    if not ok:
        fail(result)
    import orjson

    typer.echo(orjson.dumps(result, default=_jsonable, option=orjson.OPT_INDENT_2).decode())


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    if text == "-":
        text = sys.stdin.read()
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.rstrip("\n")


async def _run(
    config: Path | None,
    env: str | None,
    agent_type: str,
    agent_id: str,
    payload: Any,
    priority: int,
    timeout: float | None,
) -> tuple[bool, Any]:
    import asyncio

    from agentrt.agents import AgentRuntime
    from agentrt.errors import AgentRTError
    from agentrt.runtime import Runtime

    async with Runtime.open(config, env=env) as rt:
        agents = rt.services.get(AgentRuntime)
        await agents.spawn(agent_type, agent_id, exist_ok=True)
        events = agents.subscribe(agent_id)
        printer = asyncio.create_task(_print_events(events))
        try:
            result = await agents.ask(agent_id, payload, priority=priority, timeout=timeout)
        except AgentRTError:
            raise
        except Exception as err:  # the handler's own error: reported, not a traceback of agentrt's
            return False, f"agent {agent_id!r} failed: {type(err).__name__}: {err}"
        finally:
            events.end()  # what this activity published is queued by now: print it, then stop
            await printer
        return True, result


async def _print_events(events: Any) -> None:
    console = stderr()
    async for event in events:
        console.print(_describe(event), style="dim", markup=False)


def _describe(event: AgentEvent) -> str:
    import orjson

    data = event.as_dict()
    kind = data.pop("kind")
    data.pop("at", None)
    agent = data.pop("agent")
    detail = orjson.dumps(data, default=_jsonable).decode()
    return f"[{agent}] {kind} {detail}"


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    try:
        return to_jsonable_python(value)
    except Exception:
        return repr(value)


# --- agents list / state --------------------------------------------------------------------


@app.command("list")
def list_agents(config: ConfigOption = None, env: EnvOption = None, json_output: JsonOption = False) -> None:
    """The durable agents in the store: type, status, activities waiting, activities processed."""
    with reported_errors():
        agents = run_async(_read(config, env, None))
    if json_output:
        typer.echo(_dumps([_as_json(a, with_state=False) for a in agents]))
        return
    if not agents:
        stdout().print("no durable agents in the store")
        return
    from datetime import datetime

    from rich.table import Table

    table = Table(title="durable agents", title_justify="left")
    for column in ("id", "type", "status", "waiting", "processed", "updated"):
        table.add_column(column)
    for agent in agents:
        updated = datetime.fromtimestamp(agent.updated_at).isoformat(sep=" ", timespec="seconds")
        status = agent.status if not agent.reason else f"{agent.status} ({agent.reason})"
        table.add_row(agent.id, agent.type, status, str(agent.pending_count), str(agent.processed), updated)
    stdout().print(table)


@app.command("state")
def agent_state(
    agent_id: Annotated[str, typer.Argument(help="The agent's id.")],
    config: ConfigOption = None,
    env: EnvOption = None,
    json_output: JsonOption = False,
) -> None:
    """One durable agent's saved state and the activities it has yet to process."""
    with reported_errors():
        agents = run_async(_read(config, env, agent_id))
    if not agents:
        fail(f"no durable agent {agent_id!r} in the store: `agentrt agents list` shows those there are")
    agent = agents[0]
    if json_output:
        typer.echo(_dumps(_as_json(agent, with_state=True)))
        return
    console = stdout()
    console.print(f"{agent.id} ({agent.type}): {agent.status}" + (f", {agent.reason}" if agent.reason else ""))
    console.print(f"processed {agent.processed}, waiting {agent.pending_count}")
    from rich.syntax import Syntax

    console.print(Syntax(_dumps(_decode(agent.state)), "json", background_color="default"))
    for stored in agent.pending:
        activity = stored.activity
        console.print(
            f"  waiting: {activity.id} {activity.type} priority={activity.priority_name} "
            f"payload={_dumps(activity.payload, indent=False)}",
            markup=False,
        )


@app.command("resume")
def resume_agent(
    agent_id: Annotated[str, typer.Argument(help="The failed agent's id.")],
    config: ConfigOption = None,
    env: EnvOption = None,
) -> None:
    """Resume a failed durable agent (one that used up its restarts, or whose state could not be restored):
    the process running it takes it up again within a few seconds, or the next one to start does."""
    with reported_errors():
        found = run_async(_resume(config, env, agent_id))
    if found is None:
        fail(f"no durable agent {agent_id!r} in the store: `agentrt agents list` shows those there are")
    if found.status != "failed":
        fail(f"agent {agent_id!r} is {found.status}, not failed: only a failed agent is resumed")
    stdout().print(
        f"agent {agent_id!r} resumed: the process running it takes it up again within a few seconds "
        "(or the next one to start)",
        markup=False,
    )


async def _resume(config: Path | None, env: str | None, agent_id: str) -> StoredAgent | None:
    async with _agent_store_of(config, env) as agent_store:
        if agent_store is None:
            return None
        found = await agent_store.get(agent_id)
        if found is not None and found.status == "failed":
            await agent_store.resume(agent_id)
        return found


async def _read(config: Path | None, env: str | None, agent_id: str | None) -> list[StoredAgent]:
    async with _agent_store_of(config, env) as agent_store:
        if agent_store is None:
            return []  # no durable agent ever ran on this store
        if agent_id is None:
            return await agent_store.list_agents()
        found = await agent_store.get(agent_id)
        return [found] if found is not None else []


@asynccontextmanager
async def _agent_store_of(config: Path | None, env: str | None) -> AsyncIterator[StoreAgentStore | None]:
    """The configured store's durable agents (None when no agent ever ran on it), logging to stderr."""
    from agentrt.store import current_version, open_store

    loaded = load(config, env)
    base = loaded.path.parent if loaded.path is not None else None
    with logging_to_stderr(loaded.config):  # stdout is for the data: `--json` output is read by programs
        async with open_store(loaded.config.store.url, base_dir=base) as store:
            if await current_version(store, "agents") == 0:
                yield None
            else:
                agent_store = _agent_store(store)
                await agent_store.open()  # a store written by an older version gets the columns read here
                yield agent_store


def _agent_store(store: Store) -> StoreAgentStore:
    from agentrt.agents.durable import StoreAgentStore

    return StoreAgentStore(store)


def _decode(text: str) -> Any:
    import orjson

    return orjson.loads(text)


def _as_json(agent: StoredAgent, *, with_state: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": agent.id,
        "type": agent.type,
        "status": agent.status,
        "reason": agent.reason,
        "waiting": agent.pending_count,
        "processed": agent.processed,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    }
    if with_state:
        data["state"] = _decode(agent.state)
        data["pending"] = [
            {
                "id": s.activity.id,
                "type": s.activity.type,
                "priority": s.activity.priority,
                "payload": s.activity.payload,
                "created_at": s.activity.created_at,
            }
            for s in agent.pending
        ]
    return data


def _dumps(value: Any, *, indent: bool = True) -> str:
    import orjson

    return orjson.dumps(value, default=_jsonable, option=orjson.OPT_INDENT_2 if indent else 0).decode()
