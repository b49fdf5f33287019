"""Durable agents on a real store (SQLite, PostgreSQL) and on the memory store: journal, state, restore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agents_support import Recorder, gated, store_url_for

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime, AgentStore, MemoryAgentStore
from agentrt.agents.durable import StoreAgentStore
from agentrt.errors import AgentError
from agentrt.store import open_store

StoreFactory = Callable[[], Any]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def agent_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """A factory of context managers, each an AgentStore on the same data: a process's view of it."""
    if request.param == "memory":
        shared = MemoryAgentStore()

        @asynccontextmanager
        async def memory() -> AsyncIterator[AgentStore]:
            yield shared

        yield memory
        return
    url = store_url_for(request, request.param, tmp_path)

    @asynccontextmanager
    async def sql() -> AsyncIterator[AgentStore]:
        async with open_store(url) as store:
            yield StoreAgentStore(store)

    yield sql


@dataclass
class Ledger:
    total: int = 0
    entries: list[str] | None = None


class Bookkeeper(Agent[Ledger]):
    async def handle(self, activity: Activity, ctx: AgentContext[Ledger]) -> int:
        if ctx.state.entries is None:
            ctx.state.entries = []
        ctx.state.total += activity.payload["amount"]
        ctx.state.entries.append(f"{activity.payload['amount']}{'*' if activity.redelivered else ''}")
        return ctx.state.total


async def test_state_survives_a_restart_of_the_runtime(agent_store: StoreFactory) -> None:
    async with agent_store() as store:
        first = AgentRuntime(store=store)
        first.register("books", Bookkeeper, durable=True)
        await first.start()
        await first.spawn("books", "acme", state={"total": 100})
        assert await first.ask("acme", {"amount": 5}) == 105
        assert await first.close() == {}
    async with agent_store() as store:
        second = AgentRuntime(store=store)
        second.register("books", Bookkeeper, durable=True)
        await second.start()
        assert second.state("acme") == Ledger(total=105, entries=["5"])
        assert await second.ask("acme", {"amount": 1}) == 106
        await second.close()


async def test_unfinished_activities_are_redelivered_in_order_after_a_crash(agent_store: StoreFactory) -> None:
    async with agent_store() as store:
        crashed = AgentRuntime(store=store)
        cls = gated(crashed, "books", durable=True)
        await crashed.start()
        await crashed.spawn("books", "acme")
        sent = [("normal", "n1"), ("low", "l1"), ("high", "h1"), ("normal", "n2"), ("critical", "c1")]
        for priority, payload in sent:
            await crashed.tell("acme", payload, priority=priority)
        assert cls.gate is not None
        assert cls.started is not None
        cls.gate.release()
        cls.gate.release()
        # The third activity starting means the first two completed (their state saved with them).
        assert [await cls.started.get() for _ in range(3)] == ["n1", "c1", "h1"]
        done = list(crashed.state("acme").seen)
        assert done == ["n1", "c1"]  # n1 was taken before the rest arrived
        # The process "dies" here: nothing more is processed or closed cleanly.
        await crashed.close(timeout=0)
    async with agent_store() as store:
        restored = AgentRuntime(store=store)
        cls2 = gated(restored, "books", durable=True)
        assert cls2.gate is not None
        for _ in range(10):
            cls2.gate.release()
        redelivered: list[Activity] = []
        original_handle = cls2.handle

        async def spy(self: Any, activity: Activity, ctx: Any) -> Any:
            redelivered.append(activity)
            return await original_handle(self, activity, ctx)

        cls2.handle = spy  # type: ignore[method-assign]
        await restored.start()
        await restored.wait_idle()
        state = restored.state("acme")
        assert state.seen == ["n1", "c1", "h1", "n2", "l1"]  # the saved state, then the rest by priority
        assert [a.payload for a in redelivered] == ["h1", "n2", "l1"]
        # Only h1 was being processed when the process died; n2 and l1 had not been started.
        assert [a.redelivered for a in redelivered] == [True, False, False]
        assert [a.priority_name for a in redelivered] == ["high", "normal", "low"]
        await restored.tell("acme", "new")
        await restored.wait_idle()
        assert restored.state("acme").seen[-1] == "new"
        await restored.close()


async def test_a_terminated_durable_agent_is_not_restored(agent_store: StoreFactory) -> None:
    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        rt.register("books", Bookkeeper, durable=True)
        await rt.start()
        await rt.spawn("books", "gone")
        await rt.spawn("books", "kept")
        await rt.ask("gone", {"amount": 1})
        await rt.terminate("gone")
        await rt.close()
        stored = await store.get("gone")
        assert stored is not None
        assert stored.status == "terminated"
    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        rt.register("books", Bookkeeper, durable=True)
        await rt.start()
        assert [a.id for a in rt.list()] == ["kept"]
        await rt.close()


async def test_agents_of_a_type_registered_after_start_are_restored_then(agent_store: StoreFactory) -> None:
    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        rt.register("books", Bookkeeper, durable=True)
        await rt.start()
        await rt.spawn("books", "late", state={"total": 7})
        await rt.close()
    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        await rt.start()
        assert "late" not in rt
        rt.register("books", Bookkeeper, durable=True)
        assert rt.state("late").total == 7
        await rt.close()


async def test_a_durable_agents_payloads_must_be_json(agent_store: StoreFactory) -> None:
    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        rt.register("books", Bookkeeper, durable=True)
        await rt.start()
        await rt.spawn("books", "acme")
        with pytest.raises(AgentError, match="JSON-serialisable"):
            await rt.tell("acme", {"amount": object()})
        assert rt.stats("acme").mailbox.enqueued == 0
        assert await rt.ask("acme", {"amount": 2}) == 2
        await rt.close()


async def test_a_restart_of_a_durable_agent_goes_back_to_its_saved_state(agent_store: StoreFactory) -> None:
    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        rt.register("recorder", Recorder, durable=True, restart={"strategy": "restart"})
        await rt.start()
        await rt.spawn("recorder", "r")
        await rt.ask("r", "a")
        with pytest.raises(RuntimeError):
            await rt.ask("r", {"fail": "x"})
        assert rt.state("r").count == 1
        await rt.close()
        stored = await store.get("r")
        assert stored is not None
        assert stored.pending == []


def test_durable_types_need_a_store_and_a_serialisable_state() -> None:
    with pytest.raises(AgentError, match="durable but this agent runtime has no store"):
        AgentRuntime().register("books", Bookkeeper, durable=True)

    class Opaque(Agent[asyncio.Lock]):
        async def handle(self, activity: Activity, ctx: AgentContext[asyncio.Lock]) -> None:
            return None

    with pytest.raises(TypeError, match="must be JSON-serialisable"):
        AgentRuntime(store=MemoryAgentStore()).register("opaque", Opaque, durable=True)
    AgentRuntime().register("opaque", Opaque)  # fine when not durable


async def test_many_concurrent_tells_are_journaled_and_processed(agent_store: StoreFactory) -> None:
    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        rt.register("books", Bookkeeper, durable=True)
        await rt.start()
        await rt.spawn("books", "busy")
        await asyncio.gather(*(rt.tell("busy", {"amount": 1}) for _ in range(200)))
        await rt.wait_idle()
        assert rt.state("busy").total == 200
        await rt.close()
        stored = await store.get("busy")
        assert stored is not None
        assert (stored.pending, stored.processed) == ([], 200)


async def test_an_activity_keeps_its_id_when_it_is_redelivered(agent_store: StoreFactory) -> None:
    """``activity.id`` is the idempotency key handlers use for side effects: it must survive a crash."""
    async with agent_store() as store:
        crashed = AgentRuntime(store=store)
        cls = gated(crashed, "books", durable=True)
        await crashed.start()
        await crashed.spawn("books", "acme")
        interrupted = await crashed.tell("acme", "charge card", correlation_id="order-7")
        waiting = await crashed.tell("acme", "send receipt")
        assert cls.started is not None
        assert await cls.started.get() == "charge card"
        await crashed.close(timeout=0)  # the process dies mid-activity
    async with agent_store() as store:
        restored = AgentRuntime(store=store)
        cls2 = gated(restored, "books", durable=True)
        assert cls2.gate is not None
        seen: list[Activity] = []
        original_handle = cls2.handle

        async def spy(self: Any, activity: Activity, ctx: Any) -> Any:
            seen.append(activity)
            return await original_handle(self, activity, ctx)

        cls2.handle = spy  # type: ignore[method-assign]
        cls2.gate.release()
        cls2.gate.release()
        await restored.start()
        await restored.wait_idle()
        assert [(a.id, a.redelivered) for a in seen] == [(interrupted.id, True), (waiting.id, False)]
        assert seen[0].correlation_id == "order-7"
        await restored.close()


async def test_a_failed_agent_stays_failed_with_its_journal_across_a_restart_until_resumed(
    agent_store: StoreFactory,
) -> None:
    from agentrt.agents import AgentStatus

    async with agent_store() as store:
        rt = AgentRuntime(store=store)
        rt.register("recorder", Recorder, durable=True, restart={"max_restarts": 0})
        await rt.start()
        await rt.spawn("recorder", "r")
        await rt.tell("r", {"fail": "poison"})
        await rt.wait_idle()
        assert rt.status("r") is AgentStatus.FAILED
        await rt.close()
        stored = await store.get("r")
        assert stored is not None
        assert stored.status == "failed"
        assert stored.reason is not None
        assert "restarts" in stored.reason
        assert [s.activity.payload for s in stored.pending] == [{"fail": "poison"}]  # kept, not dropped
    async with agent_store() as store:
        again = AgentRuntime(store=store)
        again.register("recorder", Recorder, durable=True, restart={"strategy": "resume"})
        await again.start()
        [info] = again.list()
        assert info.status is AgentStatus.FAILED
        assert info.reason == stored.reason
        await again.resume("r")  # the resume strategy now: the poison activity fails once and is done
        await again.wait_idle()
        assert again.status("r") is AgentStatus.ERROR
        assert await again.ask("r", "fine") == 101
        await again.close()
        after = await store.get("r")
        assert after is not None
        assert (after.status, after.pending) == ("active", [])
