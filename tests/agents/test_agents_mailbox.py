"""Priority order, FIFO within a priority, bounded mailboxes (wait or reject), mailbox statistics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agents_support import Tally, gated, started_runtime
from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime, Priority, priority_value
from agentrt.errors import AgentTerminated, MailboxFull


def test_priorities_are_named_and_numbered_higher_first() -> None:
    assert [priority_value(p) for p in ("low", "normal", "high", "critical")] == [0, 1, 2, 3]
    assert priority_value("HIGH") == priority_value(Priority.HIGH) == 2
    assert priority_value(7) == 7
    with pytest.raises(ValueError, match="critical, high, normal, low"):
        priority_value("urgent")
    with pytest.raises(ValueError, match="not bool"):
        priority_value(True)
    assert Activity("x", priority="critical").priority_name == "critical"
    assert Activity("x", priority=9).priority_name == "9"


async def test_queued_activities_come_out_by_priority_then_arrival() -> None:
    rt = AgentRuntime()
    cls = gated(rt)
    await rt.spawn("gated", "g")
    await rt.tell("g", "blocker")  # taken at once: the rest queue behind it
    await asyncio.sleep(0)
    sent = [("low", "l1"), ("normal", "n1"), ("critical", "c1"), ("high", "h1"), ("low", "l2"), ("critical", "c2")]
    sent += [("normal", "n2"), (5, "five"), ("high", "h2")]
    for priority, payload in sent:
        await rt.tell("g", payload, priority=priority)
    assert cls.gate is not None
    for _ in range(len(sent) + 1):
        cls.gate.release()
    await rt.wait_idle()
    assert rt.state("g").seen == ["blocker", "five", "c1", "c2", "h1", "h2", "n1", "n2", "l1", "l2"]


# One operation of a sender: tell with a priority, or let the loop run a few steps.
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("tell"), st.sampled_from(["low", "normal", "high", "critical"])),
        st.tuples(st.just("yield"), st.integers(min_value=1, max_value=3)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(senders=st.lists(_ops, min_size=1, max_size=3), slow=st.sets(st.integers(0, 120)))
def test_any_interleaving_is_processed_in_priority_then_arrival_order(
    senders: list[list[tuple[str, Any]]], slow: set[int]
) -> None:
    """Each activity the agent takes is the best (highest priority, then earliest) of those accepted by then."""

    async def scenario() -> None:
        processed: list[tuple[int, int, int]] = []  # (arrival, priority, accepted when it was taken)
        arrivals: dict[int, int] = {}
        counter = iter(range(10_000))

        class Ordered(Agent[None]):
            async def handle(self, activity: Activity, ctx: AgentContext[None]) -> None:
                processed.append((activity.payload, activity.priority, rt.stats(ctx.id).mailbox.enqueued))
                if activity.payload in slow:
                    await asyncio.sleep(0)  # let senders run while this one is being processed

        rt = AgentRuntime()
        rt.register("ordered", Ordered, restart={"strategy": "resume"})
        await rt.spawn("ordered", "o")

        async def sender(ops: list[tuple[str, Any]]) -> None:
            for op, arg in ops:
                if op == "tell":
                    arrival = next(counter)
                    arrivals[arrival] = priority_value(arg)
                    await rt.tell("o", arrival, priority=arg)
                else:
                    for _ in range(arg):
                        await asyncio.sleep(0)

        await asyncio.gather(*(sender(ops) for ops in senders))
        await rt.wait_idle()
        assert sorted(p[0] for p in processed) == sorted(arrivals)  # each exactly once
        done: set[int] = set()
        for arrival, priority, accepted in processed:
            waiting = [a for a in range(accepted) if a not in done]
            best = min(waiting, key=lambda a: (-arrivals[a], a))
            assert (arrival, priority) == (best, arrivals[best])
            done.add(arrival)
        await rt.close()

    asyncio.run(scenario())


async def test_a_full_mailbox_that_rejects_raises_mailbox_full() -> None:
    rt = AgentRuntime()
    cls = gated(rt, mailbox={"size": 2, "when_full": "reject"})
    await rt.spawn("gated", "g")
    await rt.tell("g", 0)
    await asyncio.sleep(0)  # 0 is being processed: the mailbox holds what comes next
    await rt.tell("g", 1)
    await rt.tell("g", 2)
    with pytest.raises(MailboxFull, match=r"mailbox of agent 'g' is full \(2 activities queued\)") as caught:
        await rt.tell("g", 3)
    assert caught.value.agent == "g"
    assert cls.gate is not None
    for _ in range(3):
        cls.gate.release()
    await rt.wait_idle()
    assert rt.state("g").seen == [0, 1, 2]


async def test_a_full_mailbox_that_waits_lets_senders_in_as_room_frees_in_arrival_order() -> None:
    rt = AgentRuntime()
    cls = gated(rt, mailbox={"size": 1, "when_full": "wait"})
    await rt.spawn("gated", "g")
    await rt.tell("g", 0)
    await asyncio.sleep(0)
    await rt.tell("g", 1)
    waiting = [asyncio.create_task(rt.tell("g", n)) for n in (2, 3, 4)]
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in waiting)
    assert rt.stats("g").mailbox.waiting_senders == 3
    # A sender arriving now queues behind the waiting ones rather than overtaking them.
    late = asyncio.create_task(rt.tell("g", 5))
    assert cls.gate is not None
    for _ in range(6):
        cls.gate.release()
    await asyncio.gather(*waiting, late)
    await rt.wait_idle()
    assert rt.state("g").seen == [0, 1, 2, 3, 4, 5]
    assert rt.stats("g").mailbox.max_depth == 1


async def test_a_cancelled_waiting_sender_gives_its_turn_to_the_next() -> None:
    rt = AgentRuntime()
    cls = gated(rt, mailbox={"size": 1})
    await rt.spawn("gated", "g")
    await rt.tell("g", 0)
    await asyncio.sleep(0)
    await rt.tell("g", 1)
    first = asyncio.create_task(rt.tell("g", "cancelled"))
    second = asyncio.create_task(rt.tell("g", 2))
    await asyncio.sleep(0.01)
    first.cancel()
    assert cls.gate is not None
    for _ in range(3):
        cls.gate.release()
    await second
    await rt.wait_idle()
    assert rt.state("g").seen == [0, 1, 2]


async def test_senders_waiting_for_room_learn_when_the_agent_is_terminated() -> None:
    rt = AgentRuntime()
    cls = gated(rt, mailbox={"size": 1})
    await rt.spawn("gated", "g")
    await rt.tell("g", 0)
    await asyncio.sleep(0)
    await rt.tell("g", 1)
    waiting = asyncio.create_task(rt.tell("g", 2))
    await asyncio.sleep(0.01)
    assert cls.gate is not None
    cls.gate.release()
    cls.gate.release()
    terminate = asyncio.create_task(rt.terminate("g"))
    with pytest.raises(AgentTerminated, match="terminated"):
        await waiting
    await terminate


async def test_statistics_count_what_happened() -> None:
    rt = await started_runtime()
    await rt.spawn("recorder", "r")
    for n in range(3):
        await rt.tell("r", n)
    await rt.tell("r", {"fail": "boom"})
    await rt.wait_idle()
    stats = rt.stats("r")
    assert (stats.id, stats.type) == ("r", "recorder")
    box = stats.mailbox
    assert (box.depth, box.enqueued, box.processed, box.failed) == (0, 4, 3, 1)
    assert box.max_depth == 4  # all four were queued before the agent ran
    assert box.capacity == 1000
    assert box.processing_seconds > 0
    assert isinstance(rt.state("r"), Tally)
