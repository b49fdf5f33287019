"""The Ray backend on a loopback cluster: spawn, tell, ask, subscribe, terminate and list through
``rt.agents``, sends between agents of different shards (host to host), tells batched per host, and a
lost non-durable agent reported as lost.

The agent classes travel to the hosts by reference: Ray gives its workers the driver's ``sys.path``,
where pytest put this folder, so they import this module by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from ray_support import LoopbackCluster

from agentrt import Runtime
from agentrt.agents import (
    Activity,
    Agent,
    AgentContext,
    AgentStatus,
    EventsDropped,
    StateChanged,
    StatusChanged,
)
from agentrt.agents.ray import RayAgents, rendezvous_shard
from agentrt.errors import AgentError, AgentNotFound

SHARDS = 2


@dataclass
class Tally:
    count: int = 0
    seen: list[Any] = field(default_factory=list)


class Counter(Agent[Tally]):
    async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> Any:
        if activity.payload == "boom":
            raise ValueError("counter refuses boom")
        ctx.state.count += 1
        ctx.state.seen.append(activity.payload)
        return ctx.state.count


class TraceReader(Agent[None]):
    """Answers with the trace id its handler runs in."""

    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> int:
        from opentelemetry import trace

        trace_id: int = trace.get_current_span().get_span_context().trace_id
        return trace_id


class Caller(Agent[None]):
    """Calls the model its payload names."""

    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> str:
        return (await ctx.generate(activity.payload, "hello")).text


class Relay(Agent[Tally]):
    """Asks the agent named in the payload and keeps its answer; ``{"tell": id}`` sends instead."""

    async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> Any:
        payload = activity.payload
        if "tell" in payload:
            await ctx.send(payload["tell"], payload["what"])
            return "sent"
        answer = await ctx.ask(payload["ask"], payload["what"])
        ctx.state.seen.append(answer)
        return answer


ADMIN_KEY = "sk-agentrt-rayADMIN0123456789abcdefghijkl"


def ray_config(cluster: LoopbackCluster, namespace: str, store_url: str, redis_url: str) -> dict[str, Any]:
    from agentrt.server.keys import hash_key

    return {
        "server": {"host": "127.0.0.1", "api_keys": [{"key_sha256": hash_key(ADMIN_KEY), "user": "op", "admin": True}]},
        "logging": {"console": {"format": "off"}},
        "store": {"url": store_url},
        "policies": {
            "backend": redis_url,
            "key_prefix": f"{namespace}:",
            "rules": [{"name": "no-forbidden", "effect": "deny", "match": {"models": ["forbidden"]}}],
        },
        "providers": {"offline": {"kind": "local"}},
        "models": {
            "local": {"provider": "offline", "name": "echo", "pricing": {"input": 0, "output": 0}},
            "forbidden": {"provider": "offline", "name": "echo", "pricing": {"input": 0, "output": 0}},
        },
        # Spans in the hosts (printed to their Ray worker logs), so that a trace can be seen to cross.
        "observability": {"tracing": {"enabled": True, "exporter": "console"}},
        "agents_backend": {
            "kind": "ray",
            "ray": {"address": cluster.address, "namespace": namespace, "shards": SHARDS, "node_ip": "127.0.0.1"},
        },
    }


@pytest.fixture
async def ray_rt(
    ray_cluster: LoopbackCluster, ray_namespace: str, pg_store_url: str, redis_url: str
) -> AsyncIterator[Runtime]:
    async with Runtime.open(ray_config(ray_cluster, ray_namespace, pg_store_url, redis_url)) as rt:
        agents = rt.agents
        assert isinstance(agents, RayAgents)
        agents.register("counter", Counter)
        agents.register("relay", Relay)
        agents.register("ledger", Counter, durable=True)
        agents.register("tracer", TraceReader)
        agents.register("caller", Caller, user="agent-user")
        try:
            yield rt
        finally:
            await agents.stop_hosts()


def _ids_on_distinct_shards(prefix: str, count: int) -> list[str]:
    """``count`` ids whose shards all differ (so their agents live in different hosts)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < count:
        agent_id = f"{prefix}-{n}"
        found.setdefault(rendezvous_shard(agent_id, SHARDS), agent_id)
        n += 1
    return list(found.values())


async def test_spawn_tell_ask_state_list_and_terminate_through_the_hosts(ray_rt: Runtime) -> None:
    agents = ray_rt.agents
    a, b = _ids_on_distinct_shards("c", 2)
    await agents.spawn("counter", a)
    await agents.spawn("counter", b, state={"count": 10})
    await agents.tell(a, "one")
    assert await agents.ask(a, "two") == 2
    assert await agents.ask(b, "x") == 11
    assert await agents.fetch_state(a) == Tally(count=2, seen=["one", "two"])
    info = await agents.find(a)
    assert info is not None
    assert (info.type, info.status) == ("counter", AgentStatus.IDLE)
    assert await agents.find("nobody") is None
    assert [i.id for i in await agents.fetch_list()] == sorted([a, b])
    assert (await agents.fetch_stats(a)).mailbox.processed == 2
    with pytest.raises(ValueError, match="counter refuses boom"):
        await agents.ask(a, "boom")  # the handler's own error, raised in the asker's process
    with pytest.raises(AgentNotFound):
        await agents.tell("nobody", 1)
    with pytest.raises(AgentError, match="already exists"):
        await agents.spawn("counter", a)
    assert await agents.terminate(a) == 0
    assert (await agents.find(a)).status is AgentStatus.TERMINATED  # type: ignore[union-attr]


async def test_the_blocking_reads_answer_like_the_local_backend(ray_rt: Runtime) -> None:
    agents = ray_rt.agents
    await agents.spawn("counter", "sync-1")
    await agents.ask("sync-1", "x")
    assert await asyncio.to_thread(agents.state, "sync-1") == Tally(count=1, seen=["x"])
    assert await asyncio.to_thread(agents.status, "sync-1") is AgentStatus.IDLE
    assert await asyncio.to_thread(agents.__contains__, "sync-1")
    assert not await asyncio.to_thread(agents.__contains__, "sync-2")


async def test_agents_on_different_hosts_send_and_ask_each_other_directly(ray_rt: Runtime) -> None:
    agents = ray_rt.agents
    relay, target = _ids_on_distinct_shards("r", 2)
    await agents.spawn("relay", relay)
    await agents.spawn("counter", target)
    assert await agents.ask(relay, {"ask": target, "what": "hi"}) == 1
    assert await agents.ask(relay, {"tell": target, "what": "later"}) == "sent"
    await agents.wait_idle(10)
    assert (await agents.fetch_state(target)).seen == ["hi", "later"]
    assert (await agents.fetch_state(relay)).seen == [1]
    # ctx.spawn of an id on another shard lands on that shard's host
    assert rendezvous_shard(relay, SHARDS) != rendezvous_shard(target, SHARDS)


async def test_tells_to_one_host_in_one_loop_turn_travel_in_one_call(ray_rt: Runtime) -> None:
    agents = ray_rt.agents
    assert isinstance(agents, RayAgents)
    await agents.spawn("counter", "batched")
    shard = agents.router.shard_of("batched")
    before = await agents.router.call_shard(shard, "ping")
    await asyncio.gather(*(agents.tell("batched", n) for n in range(200)))
    after = await agents.router.call_shard(shard, "ping")
    assert after["told"] - before["told"] == 200
    assert after["batches"] - before["batches"] == 1
    await agents.wait_idle(10)
    assert (await agents.fetch_state("batched")).seen == list(range(200))  # in order


async def test_a_subscriber_in_another_process_sees_the_agents_events(ray_rt: Runtime) -> None:
    agents = ray_rt.agents
    await agents.spawn("counter", "watched")
    events = await agents.watch("watched")
    await agents.tell("watched", "a")
    await agents.terminate("watched")
    seen = [event async for event in events]
    kinds = [(type(e).__name__, getattr(e, "status", None)) for e in seen]
    assert ("ActivityProcessed", None) in kinds
    assert any(isinstance(e, StateChanged) and e.state == {"count": 1, "seen": ["a"]} for e in seen)
    assert isinstance(seen[-1], StatusChanged)
    assert seen[-1].status == "terminated"


async def test_a_durable_agent_survives_its_host_and_a_lost_one_is_reported(ray_rt: Runtime) -> None:
    import ray

    agents = ray_rt.agents
    assert isinstance(agents, RayAgents)
    kept, lost = "keep-0", None
    shard = agents.router.shard_of(kept)
    n = 0
    while lost is None:  # a non-durable agent on the same host
        if agents.router.shard_of(f"lose-{n}") == shard:
            lost = f"lose-{n}"
        n += 1
    await agents.spawn("ledger", kept)
    await agents.spawn("counter", lost)
    for n in range(5):
        await agents.tell(kept, n)
    await agents.ask(lost, "x")
    await agents.wait_idle(10)
    first = await agents.router.call_shard(shard, "ping")
    watching = await agents.watch(lost)
    following = await agents.watch(kept)
    ray.kill(agents.router.handle(shard), no_restart=False)  # Ray restarts it
    last = [event async for event in watching][-1]  # the stream learns from the new host: lost, and ends
    assert isinstance(last, StatusChanged)
    assert last.status == "lost"
    seam = await anext(following)  # a durable agent is followed on at its new host; the gap is marked
    assert isinstance(seam, EventsDropped)
    assert seam.count == 0
    await asyncio.sleep(0.5)
    info = None
    for _ in range(120):
        try:
            info = await agents.find(lost)
            break
        except AgentError:
            await asyncio.sleep(0.5)
    second = await agents.router.call_shard(shard, "ping")
    assert second["pid"] != first["pid"]
    assert info is not None
    assert info.status is AgentStatus.LOST
    assert lost in [i.id for i in await agents.fetch_list() if i.status is AgentStatus.LOST]
    with pytest.raises(AgentError, match="lost with its shard host"):
        await agents.tell(lost, "y")
    assert (await agents.fetch_state(kept)).seen == [0, 1, 2, 3, 4]
    assert await agents.ask(kept, 5) == 6
    async for event in following:
        if isinstance(event, StateChanged):
            assert event.state == {"count": 6, "seen": [0, 1, 2, 3, 4, 5]}
            break
    await following.aclose()


async def test_an_asks_trace_continues_in_the_host(ray_rt: Runtime) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    agents = ray_rt.agents
    await agents.spawn("tracer", "traced")
    with TracerProvider().get_tracer("test").start_as_current_span("asker") as span:
        trace_id = await agents.ask("traced", "which trace?")
    assert trace_id == span.get_span_context().trace_id
    assert await agents.ask("traced", "and now?") != trace_id  # outside the span: not that trace


async def test_after_every_host_stopped_a_new_client_brings_them_up_with_their_durable_agents(
    ray_cluster: LoopbackCluster, ray_namespace: str, pg_store_url: str, redis_url: str
) -> None:
    config = ray_config(ray_cluster, ray_namespace, pg_store_url, redis_url)
    async with Runtime.open(config) as rt:
        agents = rt.agents
        assert isinstance(agents, RayAgents)
        agents.register("ledger", Counter, durable=True)
        await agents.spawn("ledger", "book")
        assert await agents.ask("book", "first") == 1
        await agents.stop_hosts()  # a whole cluster's restart, as far as the hosts go
        assert agents.router.known_hosts() == []
    async with Runtime.open(config) as rt:
        agents = rt.agents
        assert isinstance(agents, RayAgents)
        agents.register("ledger", Counter, durable=True)
        try:
            await agents.ensure_hosts()
            assert len(agents.router.known_hosts()) == SHARDS
            shard = agents.router.shard_of("book")
            for _ in range(100):  # restored without a message, once the host has the type
                if (await agents.router.call_shard(shard, "ping"))["agents"] == 1:
                    break
                await asyncio.sleep(0.1)
            assert (await agents.router.call_shard(shard, "ping"))["agents"] == 1
            assert await agents.fetch_state("book") == Tally(count=1, seen=["first"])
            assert await agents.ask("book", "second") == 2
        finally:
            await agents.stop_hosts()


async def test_model_calls_in_a_host_go_through_the_shared_policies_and_ledger(
    ray_rt: Runtime, pg_store_url: str
) -> None:
    import psycopg

    from agentrt.errors import PolicyDenied

    agents = ray_rt.agents
    assert isinstance(agents, RayAgents)
    await agents.spawn("caller", "caller-1")
    assert await agents.ask("caller-1", "local")
    with pytest.raises(PolicyDenied):
        await agents.ask("caller-1", "forbidden")
    rows: list[Any] = []
    for _ in range(50):  # the ledger writes in the background, in batches
        async with await psycopg.AsyncConnection.connect(pg_store_url) as conn:
            rows = await (await conn.execute("SELECT user_name, model FROM agentrt_usage")).fetchall()
        if rows:
            break
        await asyncio.sleep(0.2)
    assert ("agent-user", "local") in rows
    texts = await agents.host_metrics()
    shard = agents.router.shard_of("caller-1")
    assert b'agentrt_agent_activities_total{type="caller"} 1.0' in texts[shard]  # the host's agents (one failed)
    assert b'agentrt_model_calls_total{' in texts[shard]  # and their model calls


async def test_a_watcher_that_leaves_ends_its_subscription_in_the_host(ray_rt: Runtime) -> None:
    agents = ray_rt.agents
    assert isinstance(agents, RayAgents)
    await agents.spawn("counter", "left")
    shard = agents.router.shard_of("left")
    events = await agents.watch("left")
    assert (await agents.router.call_shard(shard, "ping"))["subscriptions"] == 1
    await events.aclose()
    for _ in range(50):
        if (await agents.router.call_shard(shard, "ping"))["subscriptions"] == 0:
            break
        await asyncio.sleep(0.1)
    assert (await agents.router.call_shard(shard, "ping"))["subscriptions"] == 0


async def test_the_agents_http_routes_work_on_the_ray_backend(ray_rt: Runtime) -> None:
    import aiohttp

    from agentrt.server import HttpServer

    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with HttpServer(ray_rt, port=0) as server, aiohttp.ClientSession(headers=headers) as http:
        base = server.url + "/v1/agents"
        async with http.post(base, json={"type": "counter", "id": "web-1", "state": {"count": 5}}) as response:
            assert response.status == 201
            assert (await response.json())["status"] == "idle"
        async with http.post(f"{base}/web-1/tell", json={"payload": "told"}) as response:
            assert response.status == 202
        async with http.post(f"{base}/web-1/ask", json={"payload": "asked", "timeout": 10}) as response:
            assert (await response.json())["result"] == 7
        async with http.get(f"{base}/web-1") as response:
            detail = await response.json()
        assert detail["state"] == {"count": 7, "seen": ["told", "asked"]}
        assert detail["mailbox"]["processed"] == 2
        async with http.get(base) as response:
            assert [a["id"] for a in (await response.json())["data"]] == ["web-1"]
        async with http.get(f"{base}/nobody") as response:
            assert response.status == 404
        async with http.get(f"{base}/web-1/events") as events:
            assert events.status == 200
            await events.content.readline()  # the "subscribed" comment: events from here on are kept
            async with http.delete(f"{base}/web-1") as response:
                assert response.status == 200
            text = (await events.content.read()).decode()
        assert "event: status" in text
        assert '"status":"terminated"' in text
        assert "event: end" in text
