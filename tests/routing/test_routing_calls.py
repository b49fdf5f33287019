"""Deployments through the whole pipeline (a runtime, a strict FakeUpstream): which one serves, skipped when
busy, cooled down when failing, named in attempts, completions and the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from routing_support import runtime_config

from agentrt import Runtime
from agentrt.calls import Principal, ProviderGuards
from agentrt.errors import RateLimitExceeded
from agentrt.observability import Metrics
from agentrt.policy import PolicyEngine
from agentrt.routing import DeploymentBusy
from agentrt.store import UsageLedger
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import Completed

# The cost strategy makes the order certain: a (cheapest), then b, then c.
CHEAP_FIRST: dict[str, Any] = {
    "deployments": [
        {"provider": "east", "name": "gpt-a", "pricing": {"input": 1, "output": 1}},
        {"provider": "east", "name": "gpt-b", "pricing": {"input": 2, "output": 2}},
        {"provider": "west", "name": "claude-c", "pricing": {"input": 3, "output": 3}},
    ],
    "routing": {"strategy": "cost"},
}


def with_limits(**limits: dict[str, int]) -> dict[str, Any]:
    deployments = [{**d, **limits.get(d["name"], {})} for d in CHEAP_FIRST["deployments"]]
    return {**CHEAP_FIRST, "deployments": deployments}


async def test_the_first_deployment_serves_and_is_named_in_attempts_completion_and_ledger(
    up: FakeUpstream, tmp_path: Path
) -> None:
    async with Runtime.open(runtime_config(up, tmp_path, CHEAP_FIRST), plugins=False) as rt:
        completion = await rt.generate("m", "hello", user="ann")
        ledger = rt.services.get(UsageLedger)
        await ledger.flush()
        rows = await ledger.store.fetchall("SELECT model, provider, deployment, cached, cost FROM agentrt_usage")
    assert [r.model for r in up.requests] == ["gpt-a"]
    assert (completion.model, completion.provider, completion.deployment) == ("m", "east", "east/gpt-a")
    assert [(a.model, a.deployment, a.ok) for a in completion.attempts] == [("m", "east/gpt-a", True)]
    [(model, provider, deployment, cached, cost)] = [tuple(row) for row in rows]
    assert (model, provider, deployment, bool(cached)) == ("m", "east", "east/gpt-a", False)
    assert cost == completion.cost


async def test_a_deployment_at_its_rpm_is_skipped_for_the_next_without_a_refusal(
    up: FakeUpstream, tmp_path: Path
) -> None:
    model = with_limits(**{"gpt-a": {"rpm": 2}, "gpt-b": {"rpm": 1}})
    async with Runtime.open(runtime_config(up, tmp_path, model), plugins=False) as rt:
        served = [await rt.generate("m", f"call {i}") for i in range(4)]
        metrics = rt.services.get(Metrics).render().decode()
    assert [c.deployment for c in served] == ["east/gpt-a", "east/gpt-a", "east/gpt-b", "west/claude-c"]
    assert [r.model for r in up.requests] == ["gpt-a", "gpt-a", "gpt-b", "claude-c"]
    skipped = served[3].attempts
    assert [(a.deployment, a.error_type) for a in skipped] == [
        ("east/gpt-a", "DeploymentBusy"),
        ("east/gpt-b", "DeploymentBusy"),
        ("west/claude-c", None),
    ]
    for deployment, outcome, count in (
        ("east/gpt-a", "ok", 2),
        ("east/gpt-a", "busy", 2),
        ("east/gpt-b", "ok", 1),
        ("east/gpt-b", "busy", 1),
        ("west/claude-c", "ok", 1),
    ):
        line = f'agentrt_deployment_tries_total{{deployment="{deployment}",model="m",outcome="{outcome}"}} {count}.0'
        assert line in metrics


async def test_when_every_deployment_is_busy_the_call_is_refused_with_the_soonest_retry_after(
    up: FakeUpstream, tmp_path: Path
) -> None:
    model = with_limits(**{"gpt-a": {"rpm": 1}, "gpt-b": {"rpm": 1}, "claude-c": {"rpm": 1}})
    async with Runtime.open(runtime_config(up, tmp_path, model), plugins=False) as rt:
        for _ in range(3):
            await rt.generate("m", "fill")
        await asyncio.sleep(0.05)  # a's entry is the oldest: it has room first
        with pytest.raises(DeploymentBusy) as caught:
            await rt.generate("m", "refused")
    assert len(up.requests) == 3  # the refused call reached no provider
    error = caught.value
    assert isinstance(error, RateLimitExceeded)
    assert error.deployment == "east/gpt-a"
    assert error.retry_after is not None
    assert 45.0 < error.retry_after <= 60.0  # a's entry leaves the window first, a minute after it came


async def test_a_failing_deployment_is_cooled_down_then_tried_again_after_its_cooldown(
    up: FakeUpstream, tmp_path: Path
) -> None:
    breaker = {"failures": 1, "cooldown": "1s"}  # long enough that the second call surely finds it open
    up.script(Fault(status=500, times=1), model="gpt-a")
    async with Runtime.open(runtime_config(up, tmp_path, CHEAP_FIRST, breaker=breaker), plugins=False) as rt:
        first = await rt.generate("m", "one")  # a fails: its breaker opens; b serves, before any fallback
        second = await rt.generate("m", "two")  # a is cooling down: skipped at once
        await asyncio.sleep(1.05)
        third = await rt.generate("m", "three")  # the cooldown passed: a is tried again, and serves
        provider_breaker = rt.services.get(ProviderGuards).get("east").breaker
    assert [(a.deployment, a.error_type) for a in first.attempts] == [
        ("east/gpt-a", "ProviderUnavailable"),
        ("east/gpt-b", None),
    ]
    assert [(a.deployment, a.error_type) for a in second.attempts] == [
        ("east/gpt-a", "CircuitOpen"),
        ("east/gpt-b", None),
    ]
    assert [(a.deployment, a.error_type) for a in third.attempts] == [("east/gpt-a", None)]
    assert [r.model for r in up.requests] == ["gpt-a", "gpt-b", "gpt-b", "gpt-a"]
    assert provider_breaker.state == "closed"  # gpt-b on the same provider never felt a's failure


async def test_deployments_are_tried_before_the_models_fallbacks(up: FakeUpstream, tmp_path: Path) -> None:
    model = {**CHEAP_FIRST, "fallbacks": ["other"]}
    config = runtime_config(up, tmp_path, model)
    config["models"]["other"] = {"provider": "west", "name": "claude-other"}
    up.script(Fault(status=500, times=1), model="gpt-a")
    up.script(Fault(status=500, times=1), model="gpt-b")
    async with Runtime.open(config, plugins=False) as rt:
        completion = await rt.generate("m", "hi")
    assert [r.model for r in up.requests] == ["gpt-a", "gpt-b", "claude-c"]
    assert completion.deployment == "west/claude-c"


async def test_a_stream_moves_to_the_next_deployment_before_its_first_event(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=503, times=1), model="gpt-a")
    up.script(Reply("streamed from b"), model="gpt-b")
    async with Runtime.open(runtime_config(up, tmp_path, CHEAP_FIRST), plugins=False) as rt:
        events = [event async for event in rt.stream("m", "hi")]
    completed = events[-1]
    assert isinstance(completed, Completed)
    assert completed.completion.text == "streamed from b"
    assert completed.completion.deployment == "east/gpt-b"
    assert [(a.deployment, a.error_type) for a in completed.completion.attempts] == [
        ("east/gpt-a", "ProviderUnavailable"),
        ("east/gpt-b", None),
    ]


async def test_the_latency_strategy_learns_which_deployment_answers_first(up: FakeUpstream, tmp_path: Path) -> None:
    model = {
        "deployments": [{"provider": "east", "name": "gpt-slow"}, {"provider": "east", "name": "gpt-fast"}],
        "routing": {"strategy": "latency"},
    }
    for _ in range(10):
        up.script(Reply("slow", delay=0.15), model="gpt-slow")
    config = runtime_config(up, tmp_path, model)
    config["models"]["warm"] = {"provider": "east", "name": "gpt-warm"}
    async with Runtime.open(config, plugins=False) as rt:
        await rt.generate("warm", "hi")  # the fake's first request is slow (it loads the SDK types): not theirs
        for _ in range(2):  # each unmeasured deployment goes first once, so both get a sample
            await rt.generate("m", "warm up")
        served = [(await rt.generate("m", f"call {i}")).deployment for i in range(5)]
    assert served == ["east/gpt-fast"] * 5


async def test_least_busy_sends_concurrent_calls_to_the_idle_deployment(up: FakeUpstream, tmp_path: Path) -> None:
    model = {
        "deployments": [{"provider": "east", "name": "gpt-a"}, {"provider": "east", "name": "gpt-b"}],
        "routing": {"strategy": "least-busy"},
    }
    for name in ("gpt-a", "gpt-b"):
        for _ in range(4):
            up.script(Reply("slow", delay=0.2), model=name)
    async with Runtime.open(runtime_config(up, tmp_path, model), plugins=False) as rt:
        served = await asyncio.gather(*(rt.generate("m", f"call {i}") for i in range(4)))
    assert sorted(c.deployment or "" for c in served) == ["east/gpt-a", "east/gpt-a", "east/gpt-b", "east/gpt-b"]


async def test_on_the_sqlite_policy_backend_deployment_holds_leave_no_journal_rows(
    up: FakeUpstream, tmp_path: Path
) -> None:
    model = with_limits(**{"gpt-a": {"rpm": 1}, "gpt-b": {"rpm": 1}, "claude-c": {"rpm": 1}})
    config = runtime_config(
        up, tmp_path, model, policies={"backend": "sqlite", "limits": [{"scope": "user", "rpm": 10}]}
    )
    async with Runtime.open(config, plugins=False) as rt:
        served = [await rt.generate("m", f"call {i}", user="ann") for i in range(3)]
        with pytest.raises(DeploymentBusy):
            await rt.generate("m", "refused", user="ann")
        ledger = rt.services.get(UsageLedger)
        await ledger.flush()
        deployments = await ledger.store.fetchall("SELECT deployment FROM agentrt_usage ORDER BY id")
        pending = await ledger.store.fetchall("SELECT rid FROM agentrt_usage_pending")
        engine = rt.calls.policy
        assert isinstance(engine, PolicyEngine)
        explanation = await engine.explain(Principal("ann"), rt.models.resolve("m"))
    assert [c.deployment for c in served] == ["east/gpt-a", "east/gpt-b", "west/claude-c"]
    assert [row[0] for row in deployments] == ["east/gpt-a", "east/gpt-b", "west/claude-c"]
    assert pending == []  # the calls' own journal rows went with their ledger rows; the deployments' never existed
    assert explanation.limits[0].requests == 3  # the refused call, never admitted, took none of ann's rpm


async def test_a_deployments_tpm_holds_each_open_streams_worst_case_until_it_settles(
    up: FakeUpstream, tmp_path: Path
) -> None:
    # Each stream holds its input bound plus max_output_tokens=1000 on gpt-a's tpm of 2500: two fit, not three.
    model = {
        "deployments": [
            {"provider": "east", "name": "gpt-a", "tpm": 2500, "pricing": {"input": 1, "output": 1}},
            {"provider": "east", "name": "gpt-b", "pricing": {"input": 2, "output": 2}},
        ],
        "routing": {"strategy": "cost"},
    }
    async with Runtime.open(runtime_config(up, tmp_path, model), plugins=False) as rt:
        streams = [rt.stream("m", f"story {i}", max_output_tokens=1000) for i in range(3)]
        firsts = [await anext(stream) for stream in streams]  # all three open at once
        completions = []
        for stream in streams:
            events = [event async for event in stream]
            done = events[-1]
            assert isinstance(done, Completed)
            completions.append(done.completion)
        after = await rt.generate("m", "later", max_output_tokens=1000)  # settled: a has room again
    assert len(firsts) == 3
    assert [c.deployment for c in completions] == ["east/gpt-a", "east/gpt-a", "east/gpt-b"]
    assert [(a.deployment, a.error_type) for a in completions[2].attempts] == [
        ("east/gpt-a", "DeploymentBusy"),
        ("east/gpt-b", None),
    ]
    assert after.deployment == "east/gpt-a"
