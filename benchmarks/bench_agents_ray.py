"""Benchmark: agents across processes on a local Ray cluster: agentrt's Ray backend against one Ray actor
per agent (the naive design, written here) and autogen's gRPC distributed runtime, in the same run.

Run: ``python benchmarks/bench_agents_ray.py`` (a few minutes; needs the ``ray`` extra, and
``autogen-ext[grpc]`` from the ``bench`` extra for the peer; redis-server and PostgreSQL, as the tests
use, since the Ray backend refuses a per-process store or policy backend). Skipped, exit 0, without ray.
Prints a report; asserts nothing about timings.

Setting: a head and two worker nodes (``ray.cluster_utils.Cluster``) all on
127.0.0.1 (tests/agents_ray/ray_support.py), this process a client (driver);
the agents always live in other processes. Every contender runs the same
trivial handler (count, return the payload) on AGENTS agents:

- tell: a burst of messages spread over the agents, WINDOW in flight at a time,
  timed until the last is processed. agentrt: ``rt.agents.tell`` (returns when
  the host has queued it: acknowledged) then ``wait_idle``; actor per agent:
  ``actor.handle.remote`` (fire and forget), then every result awaited; autogen:
  ``publish_message`` to each agent's topic, then its counters polled;
- ask: CONCURRENT_ASKS callers, each asking one agent after another and
  awaiting each answer. agentrt: ``rt.agents.ask``; actor: ``await
  actor.handle.remote``; autogen: ``send_message`` (its RPC; the peer's
  processes are in _autogen_grpc_peer.py);
- memory per idle agent: agentrt: growth of the shard hosts' resident memory
  for IDLE_AGENTS agents that each processed a message; actor per agent: the
  resident memory of one idle actor's process (each actor is one);
- failover: FAILOVER_AGENTS durable agents, each told once (saved), then every
  shard host process killed (SIGKILL, a crash); timed until Ray restarted the
  hosts and every agent answered an ask from its restored state. Then the same
  with the worker node that runs most hosts removed (Ray declares it dead, then
  restarts its hosts on the live nodes);
- loopback: at the end, every TCP/UDP socket of every process the run started
  (Ray's, autogen's, this one) is bound to and talks to loopback only.

agentrt runs with SHARDS shard hosts (``agents_backend.ray.shards``): each is a
process, and this machine is small. Goals (issue 13): tell >= 10x the actor
per agent design and >= 5x autogen; ask >= 2x both; failover of 1,000 durable
agents < 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrt.agents import Activity, Agent, AgentContext

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
AGENTS = 20  # the actor-per-agent design costs a process per agent: keep it small for all
SHARDS = 4
TELLS = 20_000
NAIVE_TELLS = 5_000
AUTOGEN_TELLS = 5_000
WINDOW = 500
ASKS = 4_000
NAIVE_ASKS = 2_000
AUTOGEN_ASKS = 2_000
CONCURRENT_ASKS = 32
IDLE_AGENTS = 5_000
FAILOVER_AGENTS = 1_000
ROUNDS = 2


def _say(what: str) -> None:
    """Progress, on stderr: a stage that hangs is seen at once."""
    print(f"  .. {what}", file=sys.stderr, flush=True)


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _timed(work: Callable[[], Awaitable[int]]) -> float:
    started = time.perf_counter()
    count = await work()
    return count / (time.perf_counter() - started)


async def _ask_loops(ask: Callable[[int, int], Awaitable[Any]], total: int) -> int:
    """CONCURRENT_ASKS callers, each asking agent after agent, awaiting each answer."""
    per_caller = total // CONCURRENT_ASKS

    async def caller(c: int) -> None:
        for n in range(per_caller):
            assert await ask((c + n) % AGENTS, n) == n

    await asyncio.gather(*(caller(c) for c in range(CONCURRENT_ASKS)))
    return per_caller * CONCURRENT_ASKS


# --- agentrt's Ray backend -----------------------------------------------------------------------


@dataclass
class Count:
    count: int = 0


class Echo(Agent[Count]):
    """Counts and answers with the payload."""

    async def handle(self, activity: Activity, ctx: AgentContext[Count]) -> Any:
        ctx.state.count += 1
        return activity.payload


def agentrt_config(address: str, store_url: str, redis_url: str, namespace: str) -> dict[str, Any]:
    return {
        "logging": {"console": {"format": "off"}},
        "store": {"url": store_url},
        # Types from the configuration travel to every host, and to the hosts Ray restarts. The class by
        # module name, not __main__: the hosts import it (this folder is on their path).
        "agents": {
            "echo": {"class": "bench_agents_ray:Echo"},
            "ledger": {"class": "bench_agents_ray:Echo", "durable": True},
        },
        "policies": {"backend": redis_url, "key_prefix": f"{namespace}:"},
        "agents_backend": {
            "kind": "ray",
            "ray": {"address": address, "namespace": namespace, "shards": SHARDS, "node_ip": "127.0.0.1"},
        },
    }


class Agentrt:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.rt: Any = None

    async def __aenter__(self) -> Agentrt:
        from agentrt import Runtime

        self.rt = await Runtime.open(self.config).__aenter__()
        # Every host up (and given the types) before the first spawn.
        await asyncio.gather(*(self.agents.router.call_shard(s, "ping") for s in range(SHARDS)))
        await asyncio.gather(*(self.agents.spawn("echo", f"a{n}", exist_ok=True) for n in range(AGENTS)))
        await asyncio.gather(*(self.agents.ask(f"a{n}", 0) for n in range(AGENTS)))  # every host started
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.agents.stop_hosts()
        await self.rt.__aexit__(None, None, None)

    @property
    def agents(self) -> Any:
        return self.rt.agents

    async def tells(self) -> int:
        agents = self.agents
        for start in range(0, TELLS, WINDOW):
            await asyncio.gather(*(agents.tell(f"a{n % AGENTS}", n) for n in range(start, start + WINDOW)))
        await agents.wait_idle()
        return TELLS

    async def asks(self) -> int:
        agents = self.agents
        return await _ask_loops(lambda agent, n: agents.ask(f"a{agent}", n), ASKS)

    async def host_pids(self) -> list[int]:
        pings = await asyncio.gather(*(self.agents.router.call_shard(s, "ping") for s in range(SHARDS)))
        return [p["pid"] for p in pings]

    async def idle_bytes(self) -> float:
        agents = self.agents
        pids = await self.host_pids()
        before = sum(_rss_bytes(pid) for pid in pids)
        for start in range(0, IDLE_AGENTS, WINDOW):
            ids = [f"idle-{n}" for n in range(start, start + WINDOW)]
            await asyncio.gather(*(agents.spawn("echo", i) for i in ids))
            await asyncio.gather(*(agents.tell(i, 1) for i in ids))
        await agents.wait_idle()
        return (sum(_rss_bytes(pid) for pid in pids) - before) / IDLE_AGENTS

    async def durable_agents(self) -> list[str]:
        """FAILOVER_AGENTS durable agents, each told once (so each has saved state)."""
        agents = self.agents
        ids = [f"durable-{n}" for n in range(FAILOVER_AGENTS)]
        for start in range(0, FAILOVER_AGENTS, WINDOW):
            await asyncio.gather(*(agents.spawn("ledger", i) for i in ids[start : start + WINDOW]))
            await asyncio.gather(*(agents.tell(i, 1) for i in ids[start : start + WINDOW]))
        await agents.wait_idle()
        return ids

    async def failover_seconds(self, ids: list[str], crash: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> float:
        """``crash`` (given every host's ping), then the time until every agent answered an ask."""
        agents = self.agents
        pings = list(await asyncio.gather(*(agents.router.call_shard(s, "ping") for s in range(SHARDS))))
        before = await asyncio.gather(*(agents.fetch_state(i) for i in ids))
        started = time.perf_counter()
        await crash(pings)
        pending = list(ids)
        while pending:  # a call to a host that is still dead fails: ask again until every agent answers
            results = await asyncio.gather(
                *(agents.ask(i, "back?", timeout=10) for i in pending), return_exceptions=True
            )
            failures = [(i, r) for i, r in zip(pending, results, strict=True) if r != "back?"]
            pending = [i for i, _ in failures]
            if pending and time.perf_counter() - started > 60:
                raise TimeoutError(
                    f"{len(pending)} durable agents did not come back within 60 s; last answer: {failures[0][1]!r}"
                )
        elapsed = time.perf_counter() - started
        after = await asyncio.gather(*(agents.fetch_state(i) for i in ids))
        # Each was asked once more: fewer would be state lost with the crash.
        lost = [i for i, old, new in zip(ids, before, after, strict=True) if new.count < old.count + 1]
        if lost:
            raise AssertionError(f"{len(lost)} durable agents lost state in the failover, e.g. {lost[:3]}")
        return elapsed


async def kill_hosts(pings: list[dict[str, Any]]) -> None:
    """Every shard host's process killed (SIGKILL: a crash)."""
    for ping in pings:
        os.kill(ping["pid"], signal.SIGKILL)


def remove_busiest_worker_node(cluster: Any) -> Callable[[list[dict[str, Any]]], Awaitable[None]]:
    """The worker node that runs the most shard hosts removed (its raylet and workers killed)."""

    async def crash(pings: list[dict[str, Any]]) -> None:
        workers = {node.node_id: node for node in cluster.worker_nodes}
        hosted = [p["node_id"] for p in pings if p["node_id"] in workers]
        if not hosted:
            raise RuntimeError("no shard host runs on a worker node: nothing to remove")
        busiest = max(set(hosted), key=hosted.count)
        _say(f"removing a node with {hosted.count(busiest)} of {SHARDS} hosts")
        await asyncio.to_thread(cluster.remove_node, workers[busiest])

    return crash


# --- the naive design: one Ray actor per agent -------------------------------------------------------


class NaiveAgent:
    """An agent as its own Ray actor (a process each)."""

    def __init__(self) -> None:
        self.count = 0

    async def handle(self, payload: Any) -> Any:
        self.count += 1
        return payload

    def pid(self) -> int:
        return os.getpid()


class Naive:
    async def __aenter__(self) -> Naive:
        import ray

        actor = ray.remote(num_cpus=0)(NaiveAgent)
        self.actors = [actor.remote() for _ in range(AGENTS)]
        await asyncio.gather(*(a.handle.remote(0) for a in self.actors))
        return self

    async def __aexit__(self, *exc: object) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)

    async def tells(self) -> int:
        import ray

        refs = []
        for start in range(0, NAIVE_TELLS, WINDOW):
            refs += [self.actors[n % AGENTS].handle.remote(n) for n in range(start, start + WINDOW)]
            await asyncio.sleep(0)
        await asyncio.to_thread(ray.get, refs)
        return NAIVE_TELLS

    async def asks(self) -> int:
        actors = self.actors
        return await _ask_loops(lambda agent, n: actors[agent].handle.remote(n), NAIVE_ASKS)

    async def idle_bytes(self) -> float:
        pids = await asyncio.gather(*(a.pid.remote() for a in self.actors))
        return sum(_rss_bytes(pid) for pid in pids) / len(pids)


# --- the run -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _servers() -> Iterator[tuple[str, str]]:
    """The tests' PostgreSQL and redis-server (tests/server_fixtures.py), started for this run."""
    sys.path.insert(0, str(TESTS))
    import server_fixtures

    # The fixtures' own generator functions: the same servers the tests start, outside pytest.
    postgres = contextlib.contextmanager(server_fixtures.postgres_url.__wrapped__)
    redis = contextlib.contextmanager(server_fixtures.redis_url.__wrapped__)
    with postgres() as postgres_url, redis() as redis_url:
        yield postgres_url, redis_url


async def _best(rounds: dict[str, Callable[[], Awaitable[int]]]) -> dict[str, float]:
    best = dict.fromkeys(rounds, 0.0)
    for _ in range(ROUNDS):  # alternating, so that machine noise hits each alike
        for name, work in rounds.items():
            _say(f"{name} {work.__name__}")
            best[name] = max(best[name], await _timed(work))
    return best


async def run(cluster: Any, store_url: str, redis_url: str) -> None:
    from ray_support import inet_sockets

    address = cluster.address
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    with_autogen = importlib.util.find_spec("autogen_ext.runtimes.grpc") is not None
    async with contextlib.AsyncExitStack() as stack:
        _say("agentrt: hosts and agents")
        ours = await stack.enter_async_context(Agentrt(agentrt_config(address, store_url, redis_url, namespace)))
        _say("actor per agent: actors")
        naive = await stack.enter_async_context(Naive())
        contenders: dict[str, Any] = {"agentrt": ours, "actor": naive}
        if with_autogen:
            _say("autogen: host and worker")
            from _autogen_grpc_peer import AutogenPeer

            peer = AutogenPeer(
                agents=AGENTS, tells=AUTOGEN_TELLS, asks=AUTOGEN_ASKS, window=WINDOW, ask_loops=_ask_loops
            )
            contenders["autogen"] = await stack.enter_async_context(peer)
        tells = await _best({name: c.tells for name, c in contenders.items()})
        asks = await _best({name: c.asks for name, c in contenders.items()})
        _say("memory")
        memory = {"agentrt": await ours.idle_bytes(), "actor": await naive.idle_bytes()}
        _say("failover")
        failover: dict[str, float | str] = {}
        ids = await ours.durable_agents()
        for name, crash in (("every host killed", kill_hosts), ("a node removed", remove_busiest_worker_node(cluster))):
            try:
                failover[name] = await ours.failover_seconds(ids, crash)
            except Exception as err:  # reported, with the other figures
                failover[name] = f"failed: {err}"
        # Everything this run started (Ray's processes, autogen's, this one) listened and talked on loopback.
        pids = cluster.pids() | {os.getpid()} | (contenders["autogen"].pids() if with_autogen else set())
        foreign = [s for s in inet_sockets(pids) if not s.loopback_only]

    print(f"agents on a local Ray cluster (3 nodes, loopback), {AGENTS} agents, best of {ROUNDS} alternating rounds")
    print(f"  agentrt: {SHARDS} shard hosts; actor: one Ray actor per agent; autogen: gRPC host + worker processes")
    print(f"  tell ({WINDOW} in flight), messages per second, processed")
    for name, value in tells.items():
        print(f"    {name:<8} {value:>12,.0f}")
    print(f"  ask ({CONCURRENT_ASKS} concurrent callers), messages per second")
    for name, value in asks.items():
        print(f"    {name:<8} {value:>12,.0f}")
    print("  memory per idle agent (resident)")
    print(f"    agentrt  {memory['agentrt']:>12,.0f} bytes ({IDLE_AGENTS:,} agents in {SHARDS} hosts)")
    print(f"    actor    {memory['actor']:>12,.0f} bytes (one process each)")
    for name, value in failover.items():
        shown = f"{value:.2f} s" if isinstance(value, float) else value
        print(f"  failover of {FAILOVER_AGENTS:,} durable agents ({name}): {shown}")
    print(f"  loopback only ({len(pids)} processes): {'yes' if not foreign else f'NO: {foreign[:5]}'}")
    print("ratios")
    goals = [all(isinstance(v, float) and v < 10 for v in failover.values()), not foreign]
    for peer in ("actor", "autogen"):
        if peer not in tells:
            print(f"  {peer}: not measured (pip install 'autogen-ext[grpc]')")
            continue
        tell_ratio, ask_ratio = tells["agentrt"] / tells[peer], asks["agentrt"] / asks[peer]
        print(f"  vs {peer:<8} tell {tell_ratio:6.1f}x   ask {ask_ratio:6.1f}x")
        goals += [tell_ratio >= (10 if peer == "actor" else 5), ask_ratio >= 2]
    print(f"  memory per idle agent: the actor design uses {memory['actor'] / max(memory['agentrt'], 1):,.0f}x")
    print(
        "goals (tell >= 10x actor and >= 5x autogen, ask >= 2x both, failover < 10 s, loopback only): "
        f"{'met' if all(goals) and len(goals) == 6 else 'NOT met'}"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    if importlib.util.find_spec("ray") is None:
        print("skipped: ray is not installed (pip install 'agentrt[ray]')")
        return 0
    sys.path[:0] = [str(TESTS / "agents_ray"), str(HERE)]
    import structlog
    from ray_support import loopback_cluster

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    try:
        with (
            _servers() as (postgres_url, redis_url),
            loopback_cluster(workers=2, namespace="bench", python_path=[HERE]) as cluster,
        ):
            # SIGTERM (a timeout) unwinds like Ctrl-C, so the cluster and the servers are stopped. Set after
            # ray.init, which installs its own handler (one that aborts the process).
            signal.signal(signal.SIGTERM, _interrupt)
            asyncio.run(run(cluster, postgres_url, redis_url))
    except BaseException as err:  # the fixtures skip (pytest's Skipped) when a server's binary is missing
        if type(err).__name__ != "Skipped":
            raise
        print(f"skipped: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
