"""The agent suite's behaviours, each run on both backends (``backend``: local, ray) through the one API
every process has (``rt.agents``: spawn, tell, ask, terminate, resume and the coroutine reads).

The scenarios are those of tests/agents (file named on each test), written against what both backends
offer. The agent types come from the configuration (ray_agents.CONFIG_TYPES), as a deployment's would.

Local only (not run here, with why):

- the synchronous reads (``state()``, ``status()``, ``list()``, ``subscribe()``) that most of
  tests/agents uses: under ray they wait for the host with ``ray.get``, blocking the event loop; the
  coroutine reads are the API for both (the Ray backend's own tests cover the blocking ones);
- gates and hooks held in class attributes (``Gated``, ``hooks``, ``Clerk.ran``): an agent in a shard
  host is in another process, so a test cannot hand it an ``asyncio`` object (here: files);
- ``AgentRuntime(store=...)`` built directly, the lease tests with two runtimes in one process, the
  crash worker and the close deadline (test_agents_leases, test_agents_crash, test_agents_lifecycle's
  close tests): on ray the hosts own the leases and outlive the client (see test_agents_ray_cluster for
  the same guarantees across hosts and nodes);
- hypothesis's interleavings of the mailbox (test_agents_mailbox) and the models and the CLI
  (test_agents_models, test_agents_cli): the mailbox and the model calls are the same code in a host;
  the CLI reads the local store;
- idle agents owning no task, and memory: per process internals (the benchmark measures ray's);
- durability across a restart (test_agents_durable): on ray it is a host's death, in
  test_agents_ray_cluster (a host killed mid-activity, a node removed under load).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ray_agents import CONFIG_TYPES, Book

from agentrt import Runtime
from agentrt.agents import ActivityFailed, ActivityProcessed, AgentStatus, StateChanged
from agentrt.errors import AgentError, AgentNotFound, AgentTerminated, AgentTimeout

SHARDS = 1  # one host process per test: the CI budget (host to host is test_agents_ray_cluster's)
BASE: dict[str, Any] = {
    "logging": {"console": {"format": "off"}},
    "providers": {"offline": {"kind": "local"}},
    "models": {"local": {"provider": "offline", "name": "echo", "pricing": {"input": 0, "output": 0}}},
    "agents": CONFIG_TYPES,
}


@pytest.fixture(params=["local", "ray"])
async def agents(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """``rt.agents`` of a Runtime on the local backend (in this process) or the ray backend (shard hosts
    on the session's cluster, a namespace of the test's own)."""
    if request.param == "local":
        async with Runtime.open(BASE) as rt:
            yield rt.agents
        return
    from ray_support import ray_config

    cluster = request.getfixturevalue("ray_cluster")
    config = ray_config(
        cluster.address,
        request.getfixturevalue("ray_namespace"),
        request.getfixturevalue("pg_store_url"),
        request.getfixturevalue("redis_url"),
        shards=SHARDS,
        agents=CONFIG_TYPES,
    )
    async with Runtime.open(config) as rt:
        try:
            yield rt.agents
        finally:
            await rt.agents.stop_hosts()


async def _state(agents: Any, agent_id: str) -> Book:
    book: Book = await agents.fetch_state(agent_id)
    return book


async def _until(check: Any, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# --- test_agents_ask ------------------------------------------------------------------------------------


async def test_ask_returns_the_result_and_raises_the_handlers_own_error(agents: Any) -> None:
    await agents.spawn("resumer", "a")
    assert await agents.ask("a", {"id": "x"}) == 1
    with pytest.raises(RuntimeError, match="nope"):
        await agents.ask("a", {"id": "y", "fail": "nope"})  # the handler's error, raised in the asker
    assert await agents.ask("a", {"id": "z"}) == 3  # resume: the failed handler's change is kept
    assert (await _state(agents, "a")).seen == ["x", "!y", "z"]


async def test_ask_timeout_raises_agent_timeout_and_the_activity_is_still_processed(agents: Any) -> None:
    await agents.spawn("notes", "slow")
    with pytest.raises(AgentTimeout):
        await agents.ask("slow", {"id": "s", "sleep": 0.5}, timeout=0.1)

    async def done() -> bool:
        return (await _state(agents, "slow")).seen == ["s"]

    await _until(done)


async def test_unknown_and_terminated_agents_are_refused_clearly(agents: Any) -> None:
    with pytest.raises(AgentNotFound, match="no agent 'ghost': spawn it first"):
        await agents.tell("ghost", {"id": 1})
    with pytest.raises(AgentNotFound):
        await agents.ask("ghost", {"id": 1})
    assert await agents.find("ghost") is None
    await agents.spawn("notes", "r")
    await agents.terminate("r")
    with pytest.raises(AgentTerminated, match="'r' is terminated"):
        await agents.tell("r", {"id": 1})
    await agents.spawn("notes", "r")  # a terminated id may be reused
    assert await agents.ask("r", {"id": "again"}) == 1


async def test_spawn_refuses_duplicates_and_unknown_types(agents: Any) -> None:
    await agents.spawn("notes", "r")
    with pytest.raises(AgentError, match="agent 'r' already exists"):
        await agents.spawn("notes", "r")
    assert await agents.spawn("notes", "r", exist_ok=True) == "r"
    with pytest.raises(AgentError, match="no agent type 'nope' is registered"):
        await agents.spawn("nope", "x")


async def test_state_is_validated_from_a_dict_and_defaults_when_omitted(agents: Any) -> None:
    await agents.spawn("notes", "given", state={"seen": ["before"]})
    assert await agents.ask("given", {"id": "x"}) == 2
    await agents.spawn("notes", "default")
    assert await _state(agents, "default") == Book()
    with pytest.raises((AgentError, ValueError), match="seen"):  # pydantic's ValidationError is a ValueError
        await agents.spawn("notes", "bad", state={"seen": "not a list"})


async def test_agents_ask_each_other(agents: Any) -> None:
    await agents.spawn("notes", "asked")
    await agents.spawn("relay", "relay")
    assert await agents.ask("relay", {"ask": "asked", "what": {"id": "hello"}}) == 1
    assert (await _state(agents, "relay")).seen == ["1"]


# --- test_agents_lifecycle / test_agents_mailbox ----------------------------------------------------------


async def test_terminate_with_drain_finishes_the_queue_first(agents: Any, tmp_path: Path) -> None:
    await agents.spawn("notes", "g")
    await agents.tell("g", {"id": "0", "hold": str(tmp_path)})
    for n in range(1, 4):
        await agents.tell("g", {"id": str(n)})
    terminating = asyncio.ensure_future(agents.terminate("g"))
    await asyncio.sleep(0.2)
    (tmp_path / "0.go").touch()
    assert await terminating == 0
    info = await agents.find("g")
    assert info is not None
    assert info.status is AgentStatus.TERMINATED


async def test_queued_activities_come_out_by_priority_then_arrival(agents: Any, tmp_path: Path) -> None:
    await agents.spawn("notes", "p")
    await agents.tell("p", {"id": "first", "hold": str(tmp_path)})

    async def started() -> bool:
        return (tmp_path / "first.started").exists()

    await _until(started)
    for name, priority in [("low", "low"), ("n1", "normal"), ("high", "high"), ("n2", "normal")]:
        await agents.tell("p", {"id": name}, priority=priority)
    (tmp_path / "first.go").touch()
    assert await agents.ask("p", {"id": "last"}, priority="low") == 6
    assert (await _state(agents, "p")).seen == ["first", "high", "n1", "n2", "low", "last"]


async def test_a_full_mailbox_that_rejects_raises_mailbox_full(agents: Any, tmp_path: Path) -> None:
    from agentrt.errors import MailboxFull

    await agents.spawn("small", "s")
    await agents.tell("s", {"id": "busy", "hold": str(tmp_path)})

    async def started() -> bool:
        return (tmp_path / "busy.started").exists()

    await _until(started)
    await agents.tell("s", {"id": "queued"})  # the one place in the mailbox
    with pytest.raises(MailboxFull, match="is full"):
        await agents.tell("s", {"id": "refused"})
    (tmp_path / "busy.go").touch()

    async def finished() -> bool:
        return (await _state(agents, "s")).seen == ["busy", "queued"]

    await _until(finished)
    assert await agents.ask("s", {"id": "after"}) == 3


async def test_list_shows_every_agent_with_status(agents: Any) -> None:
    for agent_id in ("l1", "l2", "l3"):
        await agents.spawn("notes", agent_id)
    await agents.terminate("l3")
    listed = {info.id: info.status for info in await agents.fetch_list()}
    assert listed["l1"] is listed["l2"] is AgentStatus.IDLE
    assert listed.get("l3", AgentStatus.TERMINATED) is AgentStatus.TERMINATED
    assert (await agents.fetch_stats("l1")).mailbox.processed == 0


async def test_terminate_without_drain_drops_the_queue_and_tells_the_askers(agents: Any, tmp_path: Path) -> None:
    await agents.spawn("notes", "g")
    await agents.tell("g", {"id": "current", "hold": str(tmp_path)})

    async def started() -> bool:
        return (tmp_path / "current.started").exists()

    await _until(started)
    asks = [asyncio.ensure_future(agents.ask("g", {"id": str(n)})) for n in range(3)]
    await asyncio.sleep(0.3)  # the asks are queued
    terminating = asyncio.ensure_future(agents.terminate("g", drain=False))
    await asyncio.sleep(0.3)
    (tmp_path / "current.go").touch()  # the activity being processed always finishes
    assert await terminating == 3
    for ask in asks:
        with pytest.raises(AgentTerminated, match="was terminated before this activity was processed"):
            await ask


# --- test_agents_events -----------------------------------------------------------------------------------


async def test_a_subscriber_sees_results_state_and_errors_in_order(agents: Any) -> None:
    await agents.spawn("resumer", "e")
    stream = await agents.watch("e")
    await agents.tell("e", {"id": "one"})
    with pytest.raises(RuntimeError):
        await agents.ask("e", {"id": "two", "fail": "broken"})
    seen: list[Any] = []

    async def collect() -> None:
        async for event in stream:
            if isinstance(event, (StateChanged, ActivityProcessed, ActivityFailed)):
                seen.append(event)
            if isinstance(event, ActivityFailed):
                return

    await asyncio.wait_for(collect(), 20)
    await stream.aclose()
    kinds = [type(event).__name__ for event in seen]
    assert kinds[0] in ("StateChanged", "ActivityProcessed")
    assert kinds[-1] == "ActivityFailed"
    assert "broken" in str(seen[-1].error)
    assert any(isinstance(e, StateChanged) for e in seen)


# --- test_agents_supervision --------------------------------------------------------------------------------


async def test_restart_reloads_the_last_good_state(agents: Any) -> None:
    await agents.spawn("restarter", "r")
    await agents.ask("r", {"id": "good"})
    with pytest.raises(RuntimeError):
        await agents.ask("r", {"id": "bad", "fail": "boom"})
    assert await agents.ask("r", {"id": "after"}) == 2
    assert (await _state(agents, "r")).seen == ["good", "after"]  # the failed handler's change undone


async def test_stop_terminates_the_agent_at_the_first_failure(agents: Any) -> None:
    await agents.spawn("stopper", "s")
    with pytest.raises(RuntimeError):
        await agents.ask("s", {"id": "bad", "fail": "boom"})

    async def stopped() -> bool:
        info = await agents.find("s")
        return info is not None and info.status in (AgentStatus.TERMINATED, AgentStatus.FAILED)

    await _until(stopped)
    with pytest.raises(AgentError):
        await agents.tell("s", {"id": "late"})


async def test_an_agent_that_used_up_its_restarts_is_failed_keeps_its_mailbox_and_can_be_resumed(
    agents: Any,
) -> None:
    await agents.spawn("fragile", "f")
    with pytest.raises(RuntimeError):
        await agents.ask("f", {"id": "1", "fail": "again"})  # a restart (the one allowed)
    await agents.tell("f", {"id": "queued"}, priority="low")
    with pytest.raises(RuntimeError):
        await agents.ask("f", {"id": "2", "fail": "again"})  # one more: failed

    async def failed() -> bool:
        info = await agents.find("f")
        return info is not None and info.status is AgentStatus.FAILED

    await _until(failed)
    info = await agents.find("f")
    assert info is not None
    assert info.reason is not None
    assert "restarts" in info.reason
    with pytest.raises(AgentError, match="failed and takes no activities until it is resumed"):
        await agents.tell("f", {"id": "more"})
    await agents.resume("f")  # the kept activity fails again (a restart), the queued one is done

    async def done() -> bool:
        return "queued" in (await _state(agents, "f")).seen

    await _until(done)
    with pytest.raises(AgentError, match="not failed"):
        await agents.resume("f")


async def test_an_owner_is_kept_and_an_activity_s_sender_reaches_the_handler(agents: Any) -> None:
    from agentrt.calls import Principal

    await agents.spawn("notes", "owned", owner=Principal("alice", "acme"))
    info = await agents.find("owned")
    assert info is not None
    assert (info.owner_user, info.owner_tenant) == ("alice", "acme")
    await agents.ask("owned", {"id": "x", "sender": True}, sender=Principal("bob", "acme"))
    assert (await _state(agents, "owned")).seen == ["from bob", "x"]
    assert (await agents.fetch_stats("owned")).mailbox.processed == 1


async def test_a_failing_agent_never_harms_the_others(agents: Any) -> None:
    await agents.spawn("restarter", "bad")
    await agents.spawn("notes", "good")
    for n in range(5):
        await agents.tell("bad", {"id": str(n), "fail": "always"})
        await agents.tell("good", {"id": str(n)})
    assert await agents.ask("good", {"id": "end"}) == 6
    assert (await _state(agents, "good")).seen == [*map(str, range(5)), "end"]
