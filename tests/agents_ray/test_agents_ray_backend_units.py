"""The Ray backend's parts that need no cluster: rendezvous hashing, batching of tells and asks per host,
the refusal of stores and policy backends that processes cannot share, the seam (AgentBackend, Peers) on
the local backend, and a shard host's store (its shard only, its predecessor's leases, lost agents)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter as Histogram
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime, AgentStatus, LeaseLost, MemoryAgentStore
from agentrt.agents.backend import AgentBackend
from agentrt.agents.ray import ShardMap, rendezvous_shard
from agentrt.agents.ray._connect import check_config
from agentrt.agents.ray._router import HostRouter
from agentrt.agents.ray._store import ShardAgentStore
from agentrt.config import Config
from agentrt.errors import AgentError, AgentNotFound, AgentTerminated, ConfigError
from agentrt.store import open_store

ids = st.text(min_size=1, max_size=40)


# --- rendezvous hashing -----------------------------------------------------------------------------


@settings(deadline=None)
@given(agent_id=ids, shards=st.integers(1, 300))
def test_an_id_maps_to_one_shard_in_range_the_same_every_time(agent_id: str, shards: int) -> None:
    shard = rendezvous_shard(agent_id, shards)
    assert 0 <= shard < shards
    assert rendezvous_shard(agent_id, shards) == shard
    assert ShardMap(shards)(agent_id) == shard


@settings(max_examples=200, deadline=None)
@given(agent_id=ids, shards=st.integers(1, 200))
def test_adding_a_shard_moves_an_id_only_to_the_new_shard(agent_id: str, shards: int) -> None:
    before, after = rendezvous_shard(agent_id, shards), rendezvous_shard(agent_id, shards + 1)
    assert after in (before, shards)


@settings(max_examples=15, deadline=None)
@given(shards=st.integers(2, 64), salt=st.text(max_size=5))
def test_growing_by_one_shard_moves_about_one_id_in_shards_plus_one(shards: int, salt: str) -> None:
    keys = [f"{salt}agent-{n}" for n in range(1000)]
    moved = sum(rendezvous_shard(k, shards) != rendezvous_shard(k, shards + 1) for k in keys)
    expected = len(keys) / (shards + 1)
    assert moved < expected * 1.6 + 25  # hash % shards would move about (1 - 1/(shards+1)) of them


@pytest.mark.parametrize("shards", [4, 16, 64])
def test_ids_spread_evenly_over_the_shards(shards: int) -> None:
    counts = Histogram(rendezvous_shard(f"ticket-{n}", shards) for n in range(20_000))
    expected = 20_000 / shards
    assert len(counts) == shards
    assert max(counts.values()) < expected * 1.25
    assert min(counts.values()) > expected * 0.75


def test_the_shard_cache_is_bounded_and_answers_the_same() -> None:
    shard_of = ShardMap(8, limit=10)
    answers = {f"a{n}": shard_of(f"a{n}") for n in range(35)}
    assert len(shard_of._cache) <= 10
    assert all(shard_of(k) == v == rendezvous_shard(k, 8) for k, v in answers.items())
    with pytest.raises(ValueError, match="at least one shard"):
        ShardMap(0)


# --- batching ----------------------------------------------------------------------------------------


class _Method:
    def __init__(self, run: Any) -> None:
        self.calls: list[Any] = []
        self._run = run

    def remote(self, *args: Any) -> Any:
        self.calls.append(args)
        return self._run(*args)


class FakeHost:
    """Stands in for a shard host's handle: records each Ray call and answers like the real one."""

    def __init__(self) -> None:
        self.deliver = _Method(self._deliver)
        self.ask_batch = _Method(self._ask_batch)
        self.answers = _Method(self._answers)
        self.ask = _Method(self._ask)
        self._later: list[Any] = []

    async def _deliver(self, items: list[tuple[str, Activity, Any]]) -> list[BaseException | None]:
        return [AgentNotFound(f"no agent {a!r}", agent=a) if a.startswith("ghost") else None for a, _, _ in items]

    async def _ask_batch(self, questions: list[tuple[str, Activity, float | None, Any]]) -> Any:
        answers = [self._answer(index, *question) for index, question in enumerate(questions)]
        answers.reverse()  # answers come in any order: two in the reply, the others streamed after
        self._later = answers[2:]
        return answers[:2], 7 if self._later else 0

    async def _answers(self, key: int) -> AsyncIterator[Any]:
        assert key == 7
        for answer in self._later:
            yield _ready([answer])

    def _answer(self, index: int, agent_id: str, activity: Activity, *_: Any) -> tuple[int, bool, Any]:
        if agent_id.startswith("ghost"):
            return index, False, AgentNotFound(f"no agent {agent_id!r}", agent=agent_id)
        return index, True, (agent_id, activity.payload)

    async def _ask(self, agent_id: str, activity: Activity, *_: Any) -> tuple[bool, Any]:
        return self._answer(0, agent_id, activity)[1:]


async def _value(value: Any) -> Any:
    return value


def _ready(value: Any) -> Any:
    return _value(value)


def _router(shards: int = 2) -> tuple[HostRouter, dict[int, FakeHost]]:
    config = Config.model_validate({"agents_backend": {"kind": "ray", "ray": {"shards": shards}}})
    router = HostRouter(config, config.agents_backend.ray, list)
    hosts = {shard: FakeHost() for shard in range(shards)}
    router._handles.update(hosts)
    return router, hosts


def _activity(payload: Any) -> Activity:
    return Activity(payload)


async def test_tells_made_in_one_loop_turn_go_to_each_host_in_one_call() -> None:
    router, hosts = _router()
    agent_ids = [f"agent-{n}" for n in range(50)]
    await asyncio.gather(*(router.tell(a, _activity(a)) for a in agent_ids))
    for shard, host in hosts.items():
        [(items,)] = host.deliver.calls
        assert [a for a, _, _ in items] == [a for a in agent_ids if router.shard_of(a) == shard]
    await router.tell("agent-0", _activity("later"))  # a later turn: a call of its own
    assert sum(len(h.deliver.calls) for h in hosts.values()) == 3


async def test_each_tell_of_a_batch_gets_its_own_outcome() -> None:
    router, _ = _router(1)
    outcomes = await asyncio.gather(
        router.tell("a", _activity(1)),
        router.tell("ghost", _activity(2)),
        router.tell("b", _activity(3)),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], AgentNotFound)


async def test_asks_of_one_turn_share_one_call_and_each_gets_its_answer() -> None:
    router, hosts = _router(1)
    answers = await asyncio.gather(
        *(router.ask(f"agent-{n}", _activity(n), None) for n in range(5)),
        router.ask("ghost", _activity("x"), None),
        return_exceptions=True,
    )
    assert answers[:5] == [(f"agent-{n}", n) for n in range(5)]
    assert isinstance(answers[5], AgentNotFound)
    assert len(hosts[0].ask_batch.calls) == 1
    assert hosts[0].answers.calls == [(7,)]  # the slower answers: one stream
    assert await router.ask("alone", _activity("q"), None) == ("alone", "q")  # a lone ask: a plain call
    assert len(hosts[0].ask.calls) == 1
    assert len(hosts[0].ask_batch.calls) == 1


async def test_a_hosts_batch_of_asks_replies_with_the_quick_answers_and_streams_the_slow_ones() -> None:
    from agentrt.agents.ray.host import ShardHost

    gate = asyncio.Event()

    class Waiter(Agent[None]):
        async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
            if activity.payload == "slow":
                await gate.wait()
            return activity.payload

    agents = AgentRuntime()
    agents.register("waiter", Waiter)
    await agents.start()
    for agent_id in ("quick-1", "quick-2", "slow"):
        await agents.spawn("waiter", agent_id)
    host = ShardHost(Config(), 0, 1, "ns")
    host._agents = agents  # type: ignore[assignment]  # the host's runtime, without Ray around it
    questions = [(a, Activity(p), None, None) for a, p in [("quick-1", 1), ("slow", "slow"), ("quick-2", 2)]]
    answered, rest = await host.ask_batch(questions)
    assert sorted(answered) == [(0, True, 1), (2, True, 2)]
    assert rest != 0
    gate.set()
    assert [answer async for answer in host.answers(rest)] == [[(1, True, "slow")]]
    assert [answer async for answer in host.answers(rest)] == []  # once
    await agents.close(1)


async def test_closing_waits_for_asks_in_flight_at_most_its_timeout() -> None:
    router, hosts = _router(1)

    async def never(*_: Any) -> Any:
        await asyncio.Event().wait()

    hosts[0].ask = _Method(never)
    answer = router.ask("slow", _activity("q"), None)
    await asyncio.sleep(0.01)  # sent
    assert await router.drain(0.05) == 1
    with pytest.raises(AgentTerminated, match="closed before this answer came"):
        await answer
    assert await router.drain(0.05) == 0


# --- configuration -----------------------------------------------------------------------------------


def _ray_config(**sections: Any) -> Config:
    return Config.model_validate({"agents_backend": {"kind": "ray"}, **sections})


def test_ray_refuses_a_store_and_policy_counters_other_processes_cannot_share() -> None:
    with pytest.raises(ConfigError) as caught:
        check_config(_ray_config(store={"url": "sqlite:///agents.db"}, policies={"backend": "memory"}))
    paths = {problem.path: problem.message for problem in caught.value.problems}
    assert set(paths) == {"store.url", "policies.backend"}
    assert "postgresql://" in paths["store.url"]
    assert "redis://" in paths["policies.backend"]
    with pytest.raises(ConfigError, match=r"policies\.backend"):
        check_config(_ray_config(store={"url": "postgresql://db/agents"}, policies={"backend": "memory"}))
    check_config(_ray_config(store={"url": "postgresql://db/agents"}, policies={"backend": "redis://r:6379/0"}))


async def test_a_runtime_with_the_ray_backend_and_a_sqlite_store_does_not_start(tmp_path: Path) -> None:
    config = {
        "logging": {"console": {"format": "off"}},
        "store": {"url": f"sqlite:///{tmp_path / 'agents.db'}"},
        "agents_backend": {"kind": "ray", "ray": {"address": "127.0.0.1:1"}},
    }
    with pytest.raises(Exception, match="postgresql") as caught:
        async with Runtime.open(config):
            pass
    assert "store.url" in str(caught.value)


def test_a_cluster_that_cannot_be_joined_is_an_error_naming_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    from agentrt.agents.ray._connect import connect
    from agentrt.config import RayBackendSection

    def refuse(**options: Any) -> None:
        assert options["_node_ip_address"] == "127.0.0.1"  # the configured node IP reaches ray.init
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(AgentError, match=r"address 'ray://gone:10001': could not join") as caught:
        connect(RayBackendSection(address="ray://gone:10001", node_ip="127.0.0.1"))
    assert "ray start --head" in str(caught.value)


def test_the_local_backend_is_the_default_and_old_configs_still_load() -> None:
    config = Config.model_validate({"agents": {"backend": {"class": "agentrt.agents:Agent"}}})
    assert config.agents_backend.kind == "local"
    assert "backend" in config.agents  # an agent type may still be called "backend"


def test_importing_the_ray_backend_package_does_not_import_ray() -> None:
    code = "import agentrt, agentrt.agents.ray, sys; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the seam on the local backend --------------------------------------------------------------------


@dataclass
class Tally:
    seen: list[Any] = field(default_factory=list)


class Keeper(Agent[Tally]):
    async def handle(self, activity: Activity, ctx: AgentContext[Tally]) -> Any:
        payload = activity.payload
        if isinstance(payload, dict) and "forward" in payload:
            await ctx.send(payload["forward"], payload["what"])
            return await ctx.ask(payload["forward"], "question")
        ctx.state.seen.append(payload)
        return len(ctx.state.seen)


class FakePeers:
    """The agents whose id starts with "far-" live elsewhere."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.spawned: list[str] = []

    def here(self, agent_id: str) -> bool:
        return not agent_id.startswith("far-")

    async def send(self, agent_id: str, activity: Activity) -> None:
        self.sent.append((agent_id, activity.payload))

    async def ask(self, agent_id: str, activity: Activity, timeout: float | None) -> Any:
        return f"{agent_id} answers {activity.payload}"

    async def spawn(self, agent_type: str, agent_id: str, state: Any, exist_ok: bool, owner: Any) -> str:
        self.spawned.append(agent_id)
        return agent_id


async def test_the_local_backend_answers_the_backend_protocol() -> None:
    rt = AgentRuntime()
    rt.register("keeper", Keeper)
    await rt.start()
    assert isinstance(rt, AgentBackend)
    assert rt.kind == "local"
    await rt.spawn("keeper", "k")
    events = await rt.watch("k")
    assert await rt.ask("k", "x") == 1
    info = await rt.find("k")
    assert info is not None
    assert info.status is AgentStatus.IDLE
    assert await rt.find("nobody") is None
    assert await rt.fetch_state("k") == Tally(seen=["x"])
    assert (await rt.fetch_stats("k")).mailbox.processed == 1
    assert [i.id for i in await rt.fetch_list()] == ["k"]
    await rt.terminate("k")
    assert [type(e).__name__ for e in [e async for e in events]][-1] == "StatusChanged"
    await rt.close()


async def test_a_runtime_with_peers_sends_asks_and_spawns_other_shards_agents_through_them() -> None:
    peers = FakePeers()
    rt = AgentRuntime(peers=peers)
    rt.register("keeper", Keeper)
    await rt.start()
    await rt.spawn("keeper", "near")
    assert await rt.ask("near", {"forward": "far-1", "what": "hello"}) == "far-1 answers question"
    assert peers.sent == [("far-1", "hello")]
    activity = await rt.tell("far-2", "direct")
    assert peers.sent[-1] == ("far-2", "direct")
    assert activity.payload == "direct"
    assert await rt.spawn("keeper", "far-3") == "far-3"
    assert peers.spawned == ["far-3"]
    assert "far-3" not in rt
    with pytest.raises(AgentNotFound):
        await rt.tell("nobody-here", 1)  # an id of this shard that does not exist is still not found
    await rt.close()


# --- a shard host's store -----------------------------------------------------------------------------


async def _durable_agent(store: Any, agent_id: str) -> None:
    await store.save_agent(agent_id, "keeper", '{"seen": []}')
    await store.release()


async def test_a_shard_store_takes_its_shard_only_and_a_successor_takes_over_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    shards = 2
    shard_of = ShardMap(shards)
    async with open_store(url) as store:
        seed = ShardAgentStore(store, namespace="ns", shard=0, claims=lambda _: True)
        await seed.open()
        agent_ids = [f"agent-{n}" for n in range(20)]
        for agent_id in agent_ids:
            await _durable_agent(seed, agent_id)
        hosts = [
            ShardAgentStore(store, namespace="ns", shard=s, claims=lambda a, s=s: shard_of(a) == s, lease_ttl=60)
            for s in range(shards)
        ]
        loaded = [{record.id for record in await host.load()} for host in hosts]
        assert loaded[0] | loaded[1] == set(agent_ids)
        assert all(shard_of(a) == s for s in range(shards) for a in loaded[s])

        # Shard 0's host dies (its lease still 60 s from lapsing); Ray starts another: it takes them at once.
        successor = ShardAgentStore(store, namespace="ns", shard=0, claims=lambda a: shard_of(a) == 0, lease_ttl=60)
        assert {record.id for record in await successor.load()} == loaded[0]
        some = sorted(loaded[0])[0]
        with pytest.raises(LeaseLost):  # the old host, should it still run somewhere: fenced off
            await hosts[0].complete(some, 1, '{"seen": ["late"]}')
        await successor.complete(some, 1, '{"seen": ["kept"]}')
        record = await successor.get(some)
        assert record is not None
        assert record.state == '{"seen": ["kept"]}'
        # Shard 1's agents stayed with shard 1's host.
        lost, taken = await hosts[1].renew()
        assert (lost, taken) == ([], [])


async def test_a_successor_reports_the_non_durable_agents_of_its_predecessor_lost(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'hosted.db'}") as store:
        first = ShardAgentStore(store, namespace="ns", shard=3, claims=lambda _: True)
        await first.open()
        await first.record_hosted("chat-1", "keeper", None)
        await first.record_hosted("chat-2", "keeper", None)
        await first.record_terminated("chat-2")
        other_shard = ShardAgentStore(store, namespace="ns", shard=4, claims=lambda _: True)
        assert await other_shard.mark_predecessors_lost() == []
        second = ShardAgentStore(store, namespace="ns", shard=3, claims=lambda _: True)
        assert await second.mark_predecessors_lost() == ["chat-1"]
        assert [(a.id, a.status) for a in await second.lost()] == [("chat-1", "lost")]
        assert await second.mark_predecessors_lost() == []  # once


async def test_a_memory_agent_store_is_not_a_shard_store() -> None:
    # The local backend keeps its own store types; the shard store is only the ray backend's.
    assert not isinstance(MemoryAgentStore(), ShardAgentStore)
    with pytest.raises(AgentError):
        await MemoryAgentStore().start("nobody", 1)


# --- trace context -------------------------------------------------------------------------------------


async def test_a_message_carries_the_senders_trace_and_the_receiver_continues_it() -> None:
    import contextvars

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from agentrt.agents.ray._trace import carrier, within

    assert carrier() is None or "traceparent" not in (carrier() or {})  # no span: nothing to carry
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("asker") as span:
        headers = carrier()
    assert headers is not None
    assert "traceparent" in headers

    async def current_trace() -> int:
        return trace.get_current_span().get_span_context().trace_id

    # In a context of its own (as in the host's process): the sender's trace, only inside within().
    fresh = contextvars.Context()
    received = await asyncio.get_running_loop().create_task(within(headers, current_trace()), context=fresh)
    assert received == span.get_span_context().trace_id
    assert await asyncio.get_running_loop().create_task(current_trace(), context=contextvars.Context()) == 0
    assert await within(None, current_trace()) == 0


def test_the_machinery_under_the_seam_does_not_import_the_runtime() -> None:
    """Context, instance, agent, registry and delivery depend on the seam (agents/backend.py), never on
    AgentRuntime, even for type checking: that was the import circle the seam broke."""
    import ast

    import agentrt.agents

    folder = Path(agentrt.agents.__file__).parent
    for name in ("context", "instance", "agent", "registry", "_delivery", "_leases", "backend", "mailbox"):
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "agentrt.agents.runtime" not in imported, name
        assert "agentrt.agents.service" not in imported, name


def test_a_dataclass_state_shipped_by_value_is_repaired_for_pydantic() -> None:
    import pickle
    import types

    import pydantic
    from ray import cloudpickle

    from agentrt.agents.ray._shard import repair_sentinels

    source = (
        "import dataclasses\n"
        "@dataclasses.dataclass\nclass Outer:\n    a: int = 0\n"
        "    items: list = dataclasses.field(default_factory=list)\n"
    )
    module = types.ModuleType("by_value_states")
    sys.modules[module.__name__] = module  # dataclasses look their module up while building the class
    exec(source, module.__dict__)
    try:
        cloudpickle.register_pickle_by_value(module)
        shipped = pickle.loads(cloudpickle.dumps(module.Outer))
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        del sys.modules[module.__name__]
    with pytest.raises(TypeError, match="both default and default_factory"):
        pydantic.TypeAdapter(shipped)
    repair_sentinels(shipped)
    adapter = pydantic.TypeAdapter(shipped)
    assert adapter.dump_python(adapter.validate_python({"a": 2})) == {"a": 2, "items": []}


# --- ask cycles across hosts ------------------------------------------------------------------------------


class Chainer(Agent[None]):
    """``{"ask": id, "then": next payload}`` asks ``id`` with the next payload; anything else answers "leaf"."""

    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
        payload = activity.payload
        if isinstance(payload, dict) and "ask" in payload:
            return await ctx.ask(payload["ask"], payload.get("then"))
        return "leaf"


class OtherHost:
    """Peers that are another in-process runtime: what two shard hosts are to each other, minus Ray."""

    def __init__(self, mine: set[str]) -> None:
        self.mine = mine
        self.other: AgentRuntime | None = None

    def here(self, agent_id: str) -> bool:
        return agent_id in self.mine

    async def send(self, agent_id: str, activity: Activity) -> None:
        assert self.other is not None
        await self.other.tell(agent_id, activity)

    async def ask(self, agent_id: str, activity: Activity, timeout: float | None) -> Any:
        assert self.other is not None
        return await self.other.ask(agent_id, activity, timeout=timeout)

    async def spawn(self, agent_type: str, agent_id: str, state: Any, exist_ok: bool, owner: Any) -> str:
        raise AssertionError("not used")


@pytest.fixture
async def two_hosts() -> AsyncIterator[tuple[AgentRuntime, AgentRuntime]]:
    first_peers, second_peers = OtherHost({"a"}), OtherHost({"b", "c"})
    first, second = AgentRuntime(peers=first_peers), AgentRuntime(peers=second_peers)
    first_peers.other, second_peers.other = second, first
    for rt in (first, second):
        rt.register("chainer", Chainer)
        await rt.start()
    await first.spawn("chainer", "a")
    await second.spawn("chainer", "b")
    await second.spawn("chainer", "c")
    yield first, second
    await first.close(1)
    await second.close(1)


async def test_an_ask_cycle_across_hosts_is_refused_instead_of_deadlocking(
    two_hosts: tuple[AgentRuntime, AgentRuntime],
) -> None:
    first, _ = two_hosts
    with pytest.raises(AgentError, match=r"ask cycle a -> b -> a \(across hosts\)"):
        await asyncio.wait_for(first.ask("a", {"ask": "b", "then": {"ask": "a"}}), 5)
    # Through a local ask on the other host: a -> b -> c (b's host) -> a.
    with pytest.raises(AgentError, match=r"ask cycle a -> b -> c -> a"):
        await asyncio.wait_for(first.ask("a", {"ask": "b", "then": {"ask": "c", "then": {"ask": "a"}}}), 5)
    # No cycle: answered across the hosts.
    assert await asyncio.wait_for(first.ask("a", {"ask": "b", "then": {"ask": "c"}}), 5) == "leaf"
