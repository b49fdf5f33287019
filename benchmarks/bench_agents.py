"""Benchmark: agentrt agents against autogen-core's SingleThreadedAgentRuntime, in the same run.

Run: ``python benchmarks/bench_agents.py`` (about 20-30 s). Prints a report;
asserts nothing about timings.

Every contender runs a trivial handler (it returns its payload) on one event
loop, in alternating rounds so that machine noise hits each alike; the best
round counts:

- tell: 100 agents, a burst of messages spread over them, all sent before
  most are processed (many in flight), timed until the last is processed.
  agentrt: ``rt.tell``; autogen: ``publish_message`` to a topic each agent
  subscribes to (its fire-and-forget send), timed until ``stop_when_idle``;
- ask: one agent, messages sent one after another, each awaiting its answer.
  agentrt: ``rt.ask``; autogen: ``send_message``;
- memory per idle agent: 10,000 agents that each processed one message and
  are idle again, measured with tracemalloc (everything the runtime keeps for
  them: its records, the agent objects, their ids).

A bare priority mailbox (heapq, a task per busy agent, no checks, no
statistics, no supervision) runs the same tell and ask loads: the floor
agentrt's extra work is measured against. Goal (issue 5): at least 20x
autogen's messages per second, and no more memory per idle agent than it uses.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import itertools
import logging
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from autogen_core import (
    AgentId,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    TopicId,
    TypeSubscription,
    message_handler,
)

AGENTS = 100
TELLS = 50_000  # per round, agentrt and the floor
ASKS = 20_000
AUTOGEN_TELLS = 10_000  # autogen is slower: fewer messages keep its rounds short
AUTOGEN_ASKS = 3_000
ROUNDS = 3
IDLE_AGENTS = 10_000


# --- agentrt ------------------------------------------------------------------------------------


async def agentrt_runtime() -> Any:
    from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime

    class Echo(Agent[None]):
        async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
            return activity.payload

    rt = AgentRuntime()
    rt.register("echo", Echo)  # the defaults: bounded mailbox of 1000, restart strategy
    await rt.start()
    return rt


async def agentrt_tells(count: int) -> float:
    rt = await agentrt_runtime()
    ids = [f"agent-{n}" for n in range(AGENTS)]
    for agent_id in ids:
        await rt.spawn("echo", agent_id)
    started = time.perf_counter()
    for n in range(count):
        await rt.tell(ids[n % AGENTS], n)
    await rt.wait_idle()
    elapsed = time.perf_counter() - started
    await rt.close()
    return count / elapsed


async def agentrt_asks(count: int) -> float:
    rt = await agentrt_runtime()
    await rt.spawn("echo", "solo")
    started = time.perf_counter()
    for n in range(count):
        await rt.ask("solo", n)
    elapsed = time.perf_counter() - started
    await rt.close()
    return count / elapsed


async def agentrt_idle_bytes() -> float:
    rt = await agentrt_runtime()
    ids = [f"idle-{n}" for n in range(IDLE_AGENTS)]

    async def populate() -> None:
        for agent_id in ids:
            await rt.spawn("echo", agent_id)
            await rt.tell(agent_id, 1)
        await rt.wait_idle()

    per_agent = await traced_bytes(populate, IDLE_AGENTS)
    await rt.close()
    return per_agent


# --- the floor: a bare priority mailbox -------------------------------------------------------


class BareBox:
    __slots__ = ("heap", "task")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, Any, asyncio.Future[Any] | None]] = []
        self.task: asyncio.Task[None] | None = None


_bare_seq = itertools.count().__next__


async def bare_drain(box: BareBox) -> None:
    while box.heap:
        _, _, payload, reply = heapq.heappop(box.heap)
        if reply is not None:
            reply.set_result(payload)
    box.task = None


def bare_put(box: BareBox, payload: Any, reply: asyncio.Future[Any] | None) -> None:
    heapq.heappush(box.heap, (-1, _bare_seq(), payload, reply))
    if box.task is None:
        box.task = asyncio.get_running_loop().create_task(bare_drain(box))


async def bare_tells(count: int) -> float:
    boxes = [BareBox() for _ in range(AGENTS)]
    started = time.perf_counter()
    for n in range(count):
        bare_put(boxes[n % AGENTS], n, None)
    for box in boxes:
        if box.task is not None:
            await box.task
    return count / (time.perf_counter() - started)


async def bare_asks(count: int) -> float:
    box = BareBox()
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    for n in range(count):
        reply: asyncio.Future[Any] = loop.create_future()
        bare_put(box, n, reply)
        await reply
    return count / (time.perf_counter() - started)


# --- autogen-core ---------------------------------------------------------------------------------


@dataclass
class Note:
    n: int


class AutogenEcho(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("echo")

    @message_handler
    async def on_note(self, message: Note, ctx: MessageContext) -> int:
        return message.n


async def autogen_runtime() -> Any:
    runtime = SingleThreadedAgentRuntime()
    await AutogenEcho.register(runtime, "echo", AutogenEcho)
    await runtime.add_subscription(TypeSubscription(topic_type="bench", agent_type="echo"))
    runtime.start()
    return runtime


async def autogen_tells(count: int) -> float:
    runtime = await autogen_runtime()
    topics = [TopicId("bench", source=f"agent-{n}") for n in range(AGENTS)]
    started = time.perf_counter()
    for n in range(count):
        await runtime.publish_message(Note(n), topics[n % AGENTS])
    await runtime.stop_when_idle()
    return count / (time.perf_counter() - started)


async def autogen_asks(count: int) -> float:
    runtime = await autogen_runtime()
    solo = AgentId("echo", "solo")
    started = time.perf_counter()
    for n in range(count):
        await runtime.send_message(Note(n), solo)
    elapsed = time.perf_counter() - started
    await runtime.stop()
    return count / elapsed


async def autogen_idle_bytes() -> float:
    runtime = await autogen_runtime()
    keys = [f"idle-{n}" for n in range(IDLE_AGENTS)]

    async def populate() -> None:
        for key in keys:  # a published message instantiates the agent, as a tell spawns ours
            await runtime.publish_message(Note(1), TopicId("bench", source=key))
        await runtime.stop_when_idle()

    return await traced_bytes(populate, IDLE_AGENTS)


# --- measuring -----------------------------------------------------------------------------------


async def traced_bytes(populate: Callable[[], Awaitable[None]], agents: int) -> float:
    """Bytes still allocated after ``populate`` (and a collection), per agent."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await populate()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / agents


async def best_of(rounds: int, contenders: dict[str, Callable[[], Awaitable[float]]]) -> dict[str, float]:
    best = dict.fromkeys(contenders, 0.0)
    for _ in range(rounds):
        for name, run in contenders.items():
            gc.collect()
            best[name] = max(best[name], await run())
    return best


async def main() -> None:
    # autogen logs every message at INFO through the standard library; its loggers stay at their
    # defaults (no handler, WARNING from the root), as in an application that did not configure them.
    logging.getLogger().setLevel(logging.WARNING)
    # agentrt's own (a runtime would configure it from `logging:`): warnings and errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    tells = await best_of(
        ROUNDS,
        {
            "floor": lambda: bare_tells(TELLS),
            "agentrt": lambda: agentrt_tells(TELLS),
            "autogen": lambda: autogen_tells(AUTOGEN_TELLS),
        },
    )
    asks = await best_of(
        ROUNDS,
        {
            "floor": lambda: bare_asks(ASKS),
            "agentrt": lambda: agentrt_asks(ASKS),
            "autogen": lambda: autogen_asks(AUTOGEN_ASKS),
        },
    )
    ours = await agentrt_idle_bytes()
    theirs = await autogen_idle_bytes()

    print(f"agents: trivial handler, best of {ROUNDS} alternating rounds")
    print(f"  tell ({AGENTS} agents, many in flight), messages per second")
    for name in ("floor", "agentrt", "autogen"):
        print(f"    {name:<8} {tells[name]:>12,.0f}")
    print("  ask (sequential, one agent), messages per second")
    for name in ("floor", "agentrt", "autogen"):
        print(f"    {name:<8} {asks[name]:>12,.0f}")
    print(f"  memory per idle agent ({IDLE_AGENTS:,} agents that processed one message each)")
    print(f"    agentrt  {ours:>8,.0f} bytes")
    print(f"    autogen  {theirs:>8,.0f} bytes")
    tell_ratio = tells["agentrt"] / tells["autogen"]
    ask_ratio = asks["agentrt"] / asks["autogen"]
    print("ratios")
    print(f"  tell: agentrt {tell_ratio:.1f}x autogen ({tells['agentrt'] / tells['floor']:.2f} of the floor)")
    print(f"  ask:  agentrt {ask_ratio:.1f}x autogen ({asks['agentrt'] / asks['floor']:.2f} of the floor)")
    print(f"  memory per idle agent: agentrt uses {ours / theirs:.2f}x what autogen uses")
    met = tell_ratio >= 20 and ask_ratio >= 20 and ours <= theirs
    print(f"goal (>= 20x autogen's messages per second, no more memory per idle agent): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
