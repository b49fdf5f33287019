"""rt.generate through the whole pipeline against a real loopback upstream."""

from __future__ import annotations

from pathlib import Path

import pytest
from calls_support import RecordingPolicy, log_events, open_runtime

from agentrt.calls import PolicyHook
from agentrt.errors import (
    CallFailed,
    CapabilityError,
    CircuitOpen,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UnknownModel,
)
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import Message, ToolSpec


async def test_a_call_returns_text_usage_cost_and_one_attempt(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text="Paris", usage=(1000, 500)))
    async with open_runtime(up, tmp_path) as rt:
        c = await rt.generate("default", "capital of France?", user="alice", tenant="acme")
    assert c.text == "Paris"
    assert (c.usage.input_tokens, c.usage.output_tokens) == (1000, 500)
    assert c.cost == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1_000_000)
    assert (c.model, c.provider) == ("primary", "oai")
    assert [a.ok for a in c.attempts] == [True]
    assert c.latency > 0
    assert c.finish_reason == "stop"
    body = up.requests[-1].body
    assert body["model"] == "gpt-test"  # the provider's own name
    assert body["messages"] == [{"role": "user", "content": "capital of France?"}]
    assert body["temperature"] == 0.3  # the model's default params


async def test_unknown_parameters_pass_through_and_call_options_win(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("primary", "hi", seed=7, temperature=0.9, logprobs=True, system="be brief")
    body = up.requests[-1].body
    assert body["seed"] == 7
    assert body["logprobs"] is True
    assert body["temperature"] == 0.9
    assert body["messages"][0] == {"role": "system", "content": "be brief"}


async def test_requests_a_model_cannot_serve_fail_before_any_network_call(up: FakeUpstream, tmp_path: Path) -> None:
    tool = ToolSpec("lookup", "Look something up.", {"type": "object", "properties": {}})
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(CapabilityError) as caught:
            await rt.generate("plain", "hi", tools=[tool])
        assert (caught.value.model, caught.value.capability) == ("plain", "tools")
        with pytest.raises(CapabilityError) as too_long:
            await rt.generate("primary", "word " * 5000)
        assert too_long.value.capability == "context"
        with pytest.raises(UnknownModel, match="primray"):
            await rt.generate("primray", "hi")
    assert up.requests == []


async def test_a_rate_limited_call_is_retried_after_the_time_the_provider_asked(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Fault(status=429, retry_after=0.002), Reply(text="ok"))  # within max_backoff (5 ms)
    async with open_runtime(up, tmp_path) as rt:
        c = await rt.generate("primary", "hi")
    assert c.text == "ok"
    assert [a.error_type for a in c.attempts] == ["ProviderRateLimited", None]
    assert c.model == "primary"


async def test_a_failing_model_falls_back_and_attempts_tell_the_story(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=500, times=3), model="gpt-test")
    up.script(Reply(text="from the backup"), model="claude-test")
    async with open_runtime(up, tmp_path) as rt:
        c = await rt.generate("primary", "hi")
        fallback_logs = log_events(rt, "fallback")
    assert c.text == "from the backup"
    assert (c.model, c.provider) == ("backup", "ant")
    assert [(a.model, a.error_type) for a in c.attempts] == [
        ("primary", "ProviderUnavailable"),
        ("primary", "ProviderUnavailable"),
        ("primary", "ProviderUnavailable"),
        ("backup", None),
    ]
    assert c.cost == pytest.approx((c.usage.input_tokens * 3.0 + c.usage.output_tokens * 4.0) / 1_000_000)
    assert len(fallback_logs) == 1
    assert fallback_logs[0]["request_id"] == c.request_id  # joins the call's own log line


async def test_per_call_fallbacks_replace_the_configured_ones(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=503, times=3), model="gpt-test")
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ProviderUnavailable) as caught:
            await rt.generate("primary", "hi", fallbacks=[])
    assert {r.model for r in up.requests} == {"gpt-test"}
    assert [a.error_type for a in caught.value.attempts] == ["ProviderUnavailable"] * 3


async def test_when_everything_fails_in_different_ways_one_error_says_what_was_tried(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Fault(status=500, times=3), model="gpt-test")
    up.script(Fault(status=429, times=3), model="claude-test")
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(CallFailed) as caught:
            await rt.generate("primary", "hi")
        failures = log_events(rt, "model_call_failed")
    err = caught.value
    assert "primary via oai" in str(err)
    assert "backup via ant" in str(err)
    assert len(err.attempts) == 6
    assert isinstance(err.__cause__, ProviderRateLimited)
    assert "credentials" not in str(err)  # the advice fits the errors: status and rate limits
    assert "rate limiting" in str(err)
    assert failures[0]["error_type"] == "CallFailed"


async def test_when_every_attempt_failed_the_same_way_that_error_is_raised(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=500, times=10))
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ProviderUnavailable) as caught:
            await rt.generate("primary", "hi")
    assert [(a.model, a.error_type) for a in caught.value.attempts] == [
        *[("primary", "ProviderUnavailable")] * 3,
        *[("backup", "ProviderUnavailable")] * 3,
    ]


async def test_a_non_retryable_error_is_raised_at_once_without_fallback(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=401, message="bad key"))
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ProviderAuthError) as caught:
            await rt.generate("primary", "hi")
    assert len(up.requests) == 1
    assert "sk-test-key" not in str(caught.value)


async def test_the_breaker_opens_and_spares_the_provider(up: FakeUpstream, tmp_path: Path) -> None:
    providers_override = {
        "oai": {
            "kind": "openai",
            "api_key": "sk-test-key-0123456789",
            "base_url": up.openai_base_url,
            "retry": {"attempts": 1},
            "breaker": {"failures": 2, "cooldown": "60s"},
        }
    }
    models = {"solo": {"provider": "oai", "name": "gpt-solo"}}
    up.script(Fault(status=500, times=5))
    async with open_runtime(up, tmp_path, providers=providers_override, models=models) as rt:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await rt.generate("solo", "hi")
        with pytest.raises(CircuitOpen):
            await rt.generate("solo", "hi")
        changes = log_events(rt, "circuit_state_changed")
        metrics = rt.metrics.render().decode()
    assert len(up.requests) == 2  # the third call never reached the provider
    assert changes[-1]["new"] == "open"
    assert 'agentrt_provider_breaker_state{provider="oai"} 2.0' in metrics
    assert 'agentrt_provider_breaker_transitions_total{provider="oai",to="open"} 1.0' in metrics


async def test_a_per_call_timeout_bounds_the_whole_call(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text="late", delay=3.0))
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ProviderTimeout, match=r"timeout of 0\.2s"):
            await rt.generate("primary", "hi", timeout=0.2, fallbacks=[])


async def test_every_call_is_logged_counted_and_settled_with_the_policy(up: FakeUpstream, tmp_path: Path) -> None:
    policy = RecordingPolicy()
    up.script(Reply(text="a", usage=(10, 20)), Fault(status=400, message="nope"))
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        await rt.generate("primary", [Message.user("hi")], user="bob", max_output_tokens=64)
        with pytest.raises(Exception, match="nope"):
            await rt.generate("primary", "again", user="bob")
        calls = log_events(rt, "model_call")
        metrics = rt.metrics.render().decode()
    admitted = policy.admitted[0]
    assert (admitted.principal.user, admitted.operation, admitted.model.name) == ("bob", "generate", "primary")
    assert admitted.max_output_tokens == 64
    assert admitted.input_tokens > 0
    assert policy.settled[0][0] == "reservation-1"
    assert (policy.settled[0][1].input_tokens, policy.settled[0][1].output_tokens) == (10, 20)
    assert policy.released == ["reservation-2"]
    assert calls[0]["user"] == "bob"
    assert calls[0]["input_tokens"] == 10
    assert 'agentrt_model_calls_total{model="primary",operation="generate",outcome="ok",provider="oai"} 1.0' in metrics
    assert 'outcome="ProviderBadRequest"' in metrics


async def test_the_api_key_never_reaches_the_log(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=500, times=10))
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ProviderUnavailable):
            await rt.generate("primary", "hi")
        rt.logging.flush()
        assert rt.config.logging.file is not None
        text = rt.config.logging.file.path.read_text()
    assert "sk-test-key-0123456789" not in text
    assert "sk-ant-test-key" not in text


async def test_a_rate_limited_call_without_fallbacks_raises_a_catchable_rate_limit(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Fault(status=429, retry_after=30, times=5))
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ProviderRateLimited) as caught:
            await rt.generate("primary", "hi", fallbacks=[])
    assert caught.value.retry_after == 30
    assert [a.error_type for a in caught.value.attempts] == ["ProviderRateLimited"]
    assert "credentials" not in str(caught.value)
    assert len(up.requests) == 1  # 30 s is over max_backoff: no point sleeping, give up on this model


async def test_every_call_gets_a_ledger_row_failures_included(up: FakeUpstream, tmp_path: Path) -> None:
    from agentrt.calls import request_id
    from agentrt.store import UsageLedger

    up.script(Reply(text="a", usage=(10, 20)), Fault(status=400, message="nope"))
    async with open_runtime(up, tmp_path, store={"url": f"sqlite:///{tmp_path / 'ledger.db'}"}) as rt:
        token = request_id.set("req-1")
        try:
            await rt.generate("primary", "hi", user="bob", tenant="acme")
        finally:
            request_id.reset(token)
        with pytest.raises(Exception, match="nope"):
            await rt.generate("primary", "again", user="bob", tenant="acme")
        ledger = rt.services.get(UsageLedger)
        await ledger.flush()
        rows = await ledger.query(by="user")
        raw = await rt.services.get(UsageLedger).store.fetchall(
            "SELECT request_id, outcome, input_tokens, cost FROM agentrt_usage ORDER BY ts"
        )
    assert [(r.key, r.calls, r.failures, r.input_tokens, r.output_tokens) for r in rows] == [("bob", 2, 1, 10, 20)]
    assert raw[0][0] == "req-1"
    assert [r[1] for r in raw] == ["ok", "ProviderBadRequest"]
    assert raw[0][3] == pytest.approx((10 * 1.0 + 20 * 2.0) / 1e6)


async def test_context_length_exceeded_is_raised_as_itself_and_never_retried(
    up: FakeUpstream, tmp_path: Path
) -> None:
    from agentrt.errors import ContextLengthExceeded

    up.script(Fault(error_code="context_length_exceeded", times=5))
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(ContextLengthExceeded) as caught:
            await rt.generate("primary", "hi", fallbacks=[])
    assert len(up.requests) == 1
    assert [a.error_type for a in caught.value.attempts] == ["ContextLengthExceeded"]
