"""Transient errors (rate limits, budget periods, providers down or slow) are retried with backoff and never
count as crashes: a busy hour must not burn a durable agent's restarts and drop its work."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from agents_support import agents_of, local_config, with_agents
from structlog.testing import capture_logs

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime, AgentStatus, MemoryAgentStore
from agentrt.errors import (
    BudgetExceeded,
    CallFailed,
    CircuitOpen,
    PolicyDenied,
    ProviderBadRequest,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimitExceeded,
)


class Flaky(Agent[list[str]]):
    """Raises the class's queued errors one per try, then answers with the payload."""

    errors: ClassVar[list[BaseException]] = []
    tries: ClassVar[list[float]] = []
    started: ClassVar[asyncio.Event | None] = None

    async def handle(self, activity: Activity, ctx: AgentContext[list[str]]) -> Any:
        type(self).tries.append(time.monotonic())
        if type(self).started is not None:
            type(self).started.set()  # type: ignore[union-attr]
        if type(self).errors:
            raise type(self).errors.pop(0)
        ctx.state.append(activity.payload)
        return activity.payload


def flaky(errors: list[BaseException]) -> type[Flaky]:
    return type("FlakyCopy", (Flaky,), {"errors": list(errors), "tries": [], "started": asyncio.Event()})


async def runtime(cls: type[Flaky], **restart: Any) -> AgentRuntime:
    rt = AgentRuntime(store=MemoryAgentStore())
    rt.register("flaky", cls, durable=True, restart={"max_restarts": 0, "backoff": 0.01, **restart})
    await rt.start()
    await rt.spawn("flaky", "f", state=[])
    return rt


def rate_limited(retry_after: float | None) -> RateLimitExceeded:
    return RateLimitExceeded("rpm 2 would be exceeded", scope="global", limit="rpm", retry_after=retry_after)


async def test_a_rate_limited_activity_waits_as_told_and_is_retried_without_counting_as_a_crash() -> None:
    cls = flaky([rate_limited(0.05), rate_limited(0.05), ProviderUnavailable("502 from upstream")])
    rt = await runtime(cls)  # max_restarts 0: one crash would fail the agent
    assert await rt.ask("f", "work") == "work"
    assert rt.status("f") is AgentStatus.IDLE
    assert rt.stats("f").restarts == 0
    assert rt.stats("f").mailbox.failed == 0
    first, second, third, _ = cls.tries
    assert second - first >= 0.045  # retry_after honoured
    assert third - second >= 0.045
    assert rt.state("f") == ["work"]


async def test_a_budget_that_resets_is_transient_one_that_never_does_is_a_failure() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=0.05)
    cls = flaky([BudgetExceeded("daily budget", scope="tenant", budget="daily", resets_at=soon)])
    rt = await runtime(cls)
    assert await rt.ask("f", "later") == "later"
    assert cls.tries[1] - cls.tries[0] >= 0.03

    forever = flaky([BudgetExceeded("lifetime budget", scope="tenant", budget="total", resets_at=None)])
    rt = await runtime(forever)
    with pytest.raises(BudgetExceeded):
        await rt.ask("f", "never")
    assert rt.status("f") is AgentStatus.FAILED  # max_restarts 0: the one failure used them up


async def test_a_call_that_failed_on_every_candidate_for_a_transient_reason_is_transient() -> None:
    failed = CallFailed("every candidate failed", attempts=[])
    failed.__cause__ = ProviderUnavailable("connection refused")
    rt = await runtime(flaky([failed]))
    assert await rt.ask("f", "x") == "x"


async def test_retries_are_capped_then_the_error_counts_as_a_failure() -> None:
    cls = flaky([rate_limited(None) for _ in range(5)])
    rt = await runtime(cls, transient_retries=2, max_restarts=1)
    with pytest.raises(RateLimitExceeded):
        await rt.ask("f", "x")
    assert len(cls.tries) == 3  # the first try and two retries
    assert rt.stats("f").restarts == 1
    assert rt.status("f") is not AgentStatus.FAILED


async def test_a_long_retry_after_is_cut_to_max_retry_delay() -> None:
    cls = flaky([rate_limited(3600.0)])
    rt = await runtime(cls, max_retry_delay=0.05)
    assert await asyncio.wait_for(rt.ask("f", "x"), 5) == "x"


async def test_closing_cuts_a_retry_wait_short_and_a_durable_activity_stays_journaled() -> None:
    store = MemoryAgentStore()
    cls = flaky([rate_limited(60.0)])
    rt = AgentRuntime(store=store)
    rt.register("flaky", cls, durable=True)
    await rt.start()
    await rt.spawn("flaky", "f", state=[])
    await rt.tell("f", "kept")
    assert cls.started is not None
    await cls.started.wait()
    began = time.monotonic()
    await rt.close(timeout=10)
    assert time.monotonic() - began < 1  # not the 60 s the rate limit asked for
    stored = await store.get("f")
    assert stored is not None
    assert [s.activity.payload for s in stored.pending] == ["kept"]


class Asker(Agent[list[str]]):
    """Calls the model once per activity."""

    async def handle(self, activity: Activity, ctx: AgentContext[list[str]]) -> str:
        reply = (await ctx.generate(str(activity.payload))).text
        ctx.state.append(reply)
        return reply


async def test_the_pipeline_s_rate_limit_is_retried_after_its_retry_after_not_counted_as_a_crash(
    tmp_path: Path,
) -> None:
    """The issue's case: `rpm: 1`, a durable agent. The second call is refused with a retry_after of about a
    minute; the agent waits (cut to max_retry_delay here) and tries again instead of restarting."""
    config = local_config(
        tmp_path,
        policies={"limits": [{"scope": "global", "rpm": 1}]},
        agents={
            "asker": {
                "class": "test_agents_transient:Asker",
                "model": "default",
                "durable": True,
                "restart": {"max_restarts": 0, "transient_retries": 2, "max_retry_delay": 0.02},
            }
        },
    )
    async with with_agents(Runtime.open(config, plugins=False)) as rt:
        agents = agents_of(rt)
        await agents.spawn("asker", "a", state=[])
        assert await agents.ask("a", "first") == "echo: first"
        with capture_logs() as logs, pytest.raises(RateLimitExceeded) as refused:
            await agents.ask("a", "second")
        # Retries used up, then restarts (none allowed here): failed, with the activity kept, not dropped.
        assert agents.status("a") is AgentStatus.FAILED
        assert agents.stats("a").mailbox.depth == 1
    assert refused.value.retry_after is not None
    assert refused.value.retry_after > 1  # the window's wait, which the agent cut to 0.02 s
    retries = [e for e in logs if e["event"] == "agent_activity_retry"]
    assert [(e["attempt"], e["error"], e["delay"]) for e in retries] == [
        (1, "RateLimitExceeded", 0.02),
        (2, "RateLimitExceeded", 0.02),
    ]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RateLimitExceeded("rpm", scope="user", limit="rpm", retry_after=3.0), 3.0),
        (ProviderRateLimited("429", retry_after=2.0), 2.0),
        (ProviderRateLimited("429 without a wait"), 0.5),  # backoff: base * 2 ** attempt
        (CircuitOpen("breaker open", provider="oai", retry_after=4.0), 4.0),
        (ProviderUnavailable("503"), 0.5),
        (ProviderTimeout("no answer in 30s"), 0.5),
        (RateLimitExceeded("rpm", scope="user", limit="rpm", retry_after=600.0), 10.0),  # capped
        (ValueError("a bug"), None),
        (ProviderBadRequest("400: bad schema"), None),
        (PolicyDenied("rule says no", rule="no-gpt5"), None),
    ],
)
def test_which_errors_are_transient_and_how_long_they_wait(error: BaseException, expected: float | None) -> None:
    from agentrt.agents._transient import retry_delay

    assert retry_delay(error, 1, base=0.25, cap=10.0) == expected
