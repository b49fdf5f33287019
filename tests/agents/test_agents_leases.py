"""Two processes on one store run each durable agent once: the holder of its lease. A holder that stops
renewing loses the agent to the other, and its late saves are refused (the fencing token moved on)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from agents_support import store_url_for

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.agents.durable import StoreAgentStore
from agentrt.agents.persistence import LeaseLost
from agentrt.errors import AgentError
from agentrt.store import open_store

TTL = 0.3


@dataclass
class Book:
    entries: list[str] = field(default_factory=list)


class Clerk(Agent[Book]):
    """Writes each payload down; records which runtime ran it. A payload "slow" waits for the class's gate."""

    ran: ClassVar[list[tuple[str, str, bool]]] = []
    gate: ClassVar[asyncio.Event | None] = None
    started: ClassVar[asyncio.Event | None] = None

    async def handle(self, activity: Activity, ctx: AgentContext[Book]) -> int:
        Clerk.ran.append((ctx.runtime.name, activity.payload, activity.redelivered))  # type: ignore[attr-defined]
        if activity.payload == "slow":
            assert Clerk.started is not None
            assert Clerk.gate is not None
            Clerk.started.set()
            await Clerk.gate.wait()
        ctx.state.entries.append(activity.payload)
        return len(ctx.state.entries)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return store_url_for(request, request.param, tmp_path)


@pytest.fixture
async def two_processes(shared_url: str) -> AsyncIterator[tuple[AgentRuntime, AgentRuntime]]:
    """Two agent runtimes, each with its own connection to the same store, as two processes on two hosts."""
    Clerk.ran = []
    Clerk.gate = asyncio.Event()
    Clerk.started = asyncio.Event()
    async with AsyncExitStack() as stack:
        runtimes = []
        for name in ("a", "b"):
            store = await stack.enter_async_context(open_store(shared_url))
            agents = StoreAgentStore(store, lease_ttl=TTL, owner_id=f"host-{name}:1:{name}")
            rt = AgentRuntime(store=agents)
            rt.name = name  # type: ignore[attr-defined]
            rt.register("clerk", Clerk, durable=True)
            runtimes.append(rt)
        a, b = runtimes
        await a.start()
        yield a, b
        Clerk.gate.set()
        for rt in runtimes:
            if rt._started:
                await rt.close(timeout=2)


async def until(condition: Any, timeout: float = 5.0) -> None:
    # A poll: the takeover happens in the runtime's own renewal loop, which signals nothing a test could await.
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def stop_renewing(rt: AgentRuntime) -> None:
    """The process stalls (a long pause, a partition): its leases are no longer renewed."""
    assert rt._lease_keeper is not None
    rt._lease_keeper.cancel()


async def test_only_the_lease_holder_runs_the_agent_and_the_other_takes_it_over_when_it_lapses(
    two_processes: tuple[AgentRuntime, AgentRuntime],
) -> None:
    a, b = two_processes
    await a.spawn("clerk", "shared")
    await b.start()
    assert "shared" not in b  # a holds it
    with pytest.raises(AgentError, match="run by another process sharing the store"):
        await b.spawn("clerk", "shared")
    assert await a.ask("shared", "one") == 1
    await asyncio.sleep(TTL * 2)  # a renews: b never takes it
    assert "shared" not in b
    assert [who for who, _, _ in Clerk.ran] == ["a"]

    stop_renewing(a)
    await until(lambda: "shared" in b)
    assert b.state("shared") == Book(entries=["one"])
    with pytest.raises(LeaseLost, match="now run by another process"):
        await a.tell("shared", "late")  # a's journal write is refused: the token moved on
    assert "shared" not in a
    assert await b.ask("shared", "two") == 2
    assert [(who, what) for who, what, _ in Clerk.ran] == [("a", "one"), ("b", "two")]


async def test_a_lapsed_owner_s_save_is_refused_and_the_new_owner_redoes_the_activity_once(
    two_processes: tuple[AgentRuntime, AgentRuntime],
) -> None:
    a, b = two_processes
    await a.spawn("clerk", "shared")
    await b.start()
    assert await a.ask("shared", "one") == 1
    asked = asyncio.ensure_future(a.ask("shared", "slow"))
    assert Clerk.started is not None
    await Clerk.started.wait()
    stop_renewing(a)
    await until(lambda: "shared" in b)
    # b redelivers the activity a was processing (it waits at the gate in b too).
    assert Clerk.gate is not None
    Clerk.gate.set()
    with pytest.raises(LeaseLost):
        await asked  # a finished it, but its save was refused
    await b.wait_idle()
    assert b.state("shared") == Book(entries=["one", "slow"])  # once, from b
    assert ("b", "slow", True) in Clerk.ran
    assert "shared" not in a
    await b.close()
    stored = await b.store.get("shared")  # type: ignore[union-attr]
    assert stored is not None
    assert stored.state == '{"entries":["one","slow"]}'


class Fragile(Agent[Book]):
    """Fails while the class is broken: a cause someone fixes, then resumes the agent."""

    broken: ClassVar[bool] = True

    async def handle(self, activity: Activity, ctx: AgentContext[Book]) -> None:
        if Fragile.broken:
            raise RuntimeError("the ledger service is down for maintenance")
        ctx.state.entries.append(activity.payload)


async def test_an_agent_resumed_from_elsewhere_is_resumed_by_the_process_that_holds_it(shared_url: str) -> None:
    from agentrt.agents import AgentStatus

    Fragile.broken = True
    async with open_store(shared_url) as store, open_store(shared_url) as other:
        rt = AgentRuntime(store=StoreAgentStore(store, lease_ttl=TTL, owner_id="host-a:1:a"))
        rt.register("fragile", Fragile, durable=True, restart={"max_restarts": 0})
        await rt.start()
        await rt.spawn("fragile", "f")
        await rt.tell("f", "entry")
        await until(lambda: rt.status("f") is AgentStatus.FAILED)
        Fragile.broken = False
        cli = StoreAgentStore(other)  # what `agentrt agents resume f` does, from another process
        async with asyncio.timeout(5):
            while (stored := await cli.get("f")) is None or stored.status != "failed":  # noqa: ASYNC110 (polls the store)
                await asyncio.sleep(0.01)
        assert await cli.resume("f")
        await until(lambda: rt.status("f") is not AgentStatus.FAILED)
        await rt.wait_idle()
        assert rt.state("f") == Book(entries=["entry"])  # the kept activity, done after the resume
        await rt.close()


async def test_the_agents_of_a_dead_process_of_this_host_are_taken_over_before_their_lease_lapses(
    shared_url: str,
) -> None:
    import socket
    import sys

    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    dead_pid = gone.pid  # a process of this host that has exited
    async with open_store(shared_url) as store:
        dead = StoreAgentStore(store, lease_ttl=3600, owner_id=f"{socket.gethostname()}:{dead_pid}:old")
        await dead.open()
        await dead.save_agent("orphan", "clerk", '{"entries": ["kept"]}')  # leased for an hour
        far = StoreAgentStore(store, lease_ttl=3600, owner_id="elsewhere:1:x")
        await far.save_agent("remote", "clerk", '{"entries": []}')  # another host: alive, as far as we know
        rt = AgentRuntime(store=StoreAgentStore(store, lease_ttl=TTL, owner_id=f"{socket.gethostname()}:1:new"))
        rt.register("clerk", Clerk, durable=True)
        await rt.start()
        assert "orphan" in rt  # taken at start, not an hour later
        assert rt.state("orphan") == Book(entries=["kept"])
        assert "remote" not in rt
        await rt.close()


class Ledger(Agent[Book]):
    """Slow bookkeeping: what each process did is printed (the worker) or recorded (the test)."""

    async def handle(self, activity: Activity, ctx: AgentContext[Book]) -> None:
        await asyncio.sleep(0.005)
        ctx.state.entries.append(str(activity.payload))
        print(f"done {activity.payload}", flush=True)


async def test_a_second_process_takes_over_the_agent_of_a_killed_one_and_loses_nothing(shared_url: str) -> None:
    """Two OS processes on one store: the owner is SIGKILLed mid-work; the other, already running, takes the
    agent over (its lease) and finishes every acknowledged activity, each once in the saved state."""
    import os
    import signal
    import sys

    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])}
    owner = await asyncio.create_subprocess_exec(
        sys.executable, str(here / "agents_lease_worker.py"), shared_url, "200",
        stdout=asyncio.subprocess.PIPE, env=env,
    )
    assert owner.stdout is not None
    acked: list[int] = []
    done = 0
    try:
        async with asyncio.timeout(60):
            while len(acked) < 200 or done < 20:
                line = (await owner.stdout.readline()).decode()
                if not line:
                    raise AssertionError("the owner process ended early")
                word, _, number = line.strip().partition(" ")
                if word == "ack":
                    acked.append(int(number))
                elif word == "done":
                    done += 1
        async with open_store(shared_url) as store:
            rt = AgentRuntime(store=StoreAgentStore(store, lease_ttl=1.0, owner_id="other-host:1:b"))
            rt.register("ledger", Ledger, durable=True)
            await rt.start()
            assert "shared" not in rt  # the owner is alive and renewing
            owner.send_signal(signal.SIGKILL)
            await owner.wait()
            await until(lambda: "shared" in rt, timeout=10)  # its process is gone (same host): taken over
            await rt.wait_idle(timeout=30)
            entries = [int(e) for e in rt.state("shared").entries]
            await rt.close()
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()
    assert sorted(entries) == list(range(1, 201))  # every acknowledged activity, each once
