"""The response cache through the pipeline: hits, misses, tenants, streams, TTLs, the ledger and the policy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cache_support import cache_config, ledger_rows, open_runtime

from agentrt import Runtime
from agentrt.calls import Principal
from agentrt.errors import PolicyDenied, RateLimitExceeded
from agentrt.observability import Metrics
from agentrt.policy import PolicyEngine
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import Completed, TextDelta, ToolCallDelta, ToolSpec


async def test_a_repeated_request_is_a_hit_that_costs_nothing_and_is_marked_cached_in_the_ledger(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Reply("the answer", usage=(10, 3)), model="gpt-test")
    async with open_runtime(up, tmp_path) as rt:
        first = await rt.generate("m", "question", tenant="acme")
        second = await rt.generate("m", "question", tenant="acme")
        rows = await ledger_rows(rt)
    assert len(up.requests) == 1
    assert (first.text, first.cached, first.usage.total_tokens) == ("the answer", False, 13)
    assert (second.text, second.cached, second.cost, second.attempts) == ("the answer", True, 0.0, [])
    assert (second.usage.input_tokens, second.usage.output_tokens) == (0, 0)
    assert second.request_id != first.request_id
    assert rows == [("acme", 10, 3, first.cost, False, "ok"), ("acme", 0, 0, 0.0, True, "ok")]


async def test_an_alias_and_the_name_share_answers_and_message_forms_are_normalised(
    up: FakeUpstream, tmp_path: Path
) -> None:
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("m", "hello")
        by_alias = await rt.generate("fast", [{"role": "user", "content": "hello"}])
    assert len(up.requests) == 1
    assert by_alias.cached


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "another question"},
        {"temperature": 0.9},
        {"max_output_tokens": 50},
        {"system": "be brief"},
        {"seed": 7},
        {"response_format": {"type": "json_object"}},
    ],
)
async def test_a_request_that_differs_in_what_changes_the_answer_is_a_miss(
    up: FakeUpstream, tmp_path: Path, change: dict[str, object]
) -> None:
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("m", "question")
        prompt = change.pop("prompt", "question")
        again = await rt.generate("m", prompt, **change)
    assert len(up.requests) == 2
    assert not again.cached


async def test_labels_that_do_not_change_the_answer_still_hit(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("m", "question", user="ann", metadata={"trace": "1"})
        again = await rt.generate("m", "question", user="bob", metadata={"trace": "2"})
    assert len(up.requests) == 1
    assert again.cached


async def test_a_hit_is_never_served_to_another_tenant(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("m", "question", tenant="acme")
        other = await rt.generate("m", "question", tenant="globex")
        anonymous = await rt.generate("m", "question")
    assert len(up.requests) == 3
    assert not other.cached
    assert not anonymous.cached


async def test_tenants_share_answers_when_the_config_says_so(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path, {"shared_across_tenants": True}) as rt:
        await rt.generate("m", "question", tenant="acme")
        other = await rt.generate("m", "question", tenant="globex")
    assert len(up.requests) == 1
    assert other.cached


async def test_a_stream_is_stored_and_served_from_the_cache_as_the_same_stream(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Reply("one two three four five six seven", chunk_size=4), model="gpt-test")
    async with open_runtime(up, tmp_path) as rt:
        first = [event async for event in rt.stream("m", "tell me")]
        second = [event async for event in rt.stream("m", "tell me")]
        rows = await ledger_rows(rt)
    assert len(up.requests) == 1
    first_deltas = [e for e in first if not isinstance(e, Completed)]
    second_deltas = [e for e in second if not isinstance(e, Completed)]
    assert len(first_deltas) > 1
    assert second_deltas == first_deltas  # the same events, replayed
    done = second[-1]
    assert isinstance(done, Completed)
    assert (done.completion.text, done.completion.cached, done.completion.cost) == (
        "one two three four five six seven",
        True,
        0.0,
    )
    assert [row[4] for row in rows] == [False, True]


async def test_a_whole_answer_is_served_to_a_stream_as_events(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply("calling", tool_calls=[("lookup", {"q": "x"})]), model="gpt-test")
    spec = ToolSpec("lookup", "", {"type": "object", "properties": {"q": {"type": "string"}}})
    async with open_runtime(up, tmp_path) as rt:
        whole = await rt.generate("m", "find x", tools=[spec])
        events = [event async for event in rt.stream("m", "find x", tools=[spec])]
    assert len(up.requests) == 1
    assert isinstance(events[0], TextDelta)
    assert events[0].text == "calling"
    call = events[1]
    assert isinstance(call, ToolCallDelta)
    assert (call.id, call.name, call.arguments) == (whole.tool_calls[0].id, "lookup", '{"q":"x"}')
    done = events[-1]
    assert isinstance(done, Completed)
    assert done.completion.tool_calls == whole.tool_calls


async def test_an_answer_cut_at_the_output_limit_is_not_stored(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply("cut", finish_reason="length"), model="gpt-test")
    async with open_runtime(up, tmp_path) as rt:
        first = await rt.generate("m", "long story")
        second = await rt.generate("m", "long story")
    assert first.finish_reason == "length"
    assert len(up.requests) == 2
    assert not second.cached


async def test_a_stream_left_early_is_not_stored(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply("a b c d e f g h i j k l", chunk_size=2), model="gpt-test")
    async with open_runtime(up, tmp_path) as rt:
        stream = rt.stream("m", "story")
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        again = [event async for event in rt.stream("m", "story")]
    assert len(up.requests) == 2
    done = again[-1]
    assert isinstance(done, Completed)
    assert not done.completion.cached


async def test_a_failed_call_is_not_stored(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=400, message="bad request"), model="gpt-test")
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(Exception, match="bad request"):
            await rt.generate("m", "q")
        again = await rt.generate("m", "q")
    assert not again.cached


async def test_an_entry_expires_after_the_calls_ttl(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("m", "q", cache_ttl=0.2)
        hit = await rt.generate("m", "q")
        await asyncio.sleep(0.25)
        expired = await rt.generate("m", "q")
    assert hit.cached
    assert not expired.cached
    assert len(up.requests) == 2


async def test_an_entry_expires_after_the_models_ttl(up: FakeUpstream, tmp_path: Path) -> None:
    settings = cache_config(up, tmp_path)
    settings["models"]["m"]["cache"] = {"ttl": "200ms"}
    async with Runtime.open(settings, plugins=False) as rt:
        await rt.generate("m", "q")
        hit = await rt.generate("m", "q")
        await asyncio.sleep(0.25)
        expired = await rt.generate("m", "q")
    assert hit.cached
    assert not expired.cached


async def test_a_model_can_keep_its_answers_out_of_the_cache(up: FakeUpstream, tmp_path: Path) -> None:
    settings = cache_config(up, tmp_path)
    settings["models"]["m"]["cache"] = {"enabled": False}
    async with Runtime.open(settings, plugins=False) as rt:
        await rt.generate("m", "q")
        again = await rt.generate("m", "q")
    assert not again.cached


async def test_the_cache_is_off_by_default_and_a_call_can_turn_it_on(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path, {"enabled": False}) as rt:
        await rt.generate("m", "q")
        default = await rt.generate("m", "q")
        await rt.generate("m", "q", cache=True)
        asked = await rt.generate("m", "q", cache=True)
    assert not default.cached
    assert asked.cached
    assert len(up.requests) == 3


async def test_a_call_can_skip_the_cache_or_refresh_it(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply("old"), Reply("skipped"), Reply("new"), model="gpt-test")
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("m", "q")
        skipped = await rt.generate("m", "q", cache=False)  # neither read nor written
        refreshed = await rt.generate("m", "q", cache="refresh")  # not read, written
        after = await rt.generate("m", "q")
    assert (skipped.text, skipped.cached) == ("skipped", False)
    assert (refreshed.text, refreshed.cached) == ("new", False)
    assert (after.text, after.cached) == ("new", True)


async def test_a_hit_goes_through_the_policy_rules(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {
        "backend": "memory",
        "rules": [{"name": "no-interns", "effect": "deny", "match": {"users": ["intern"]}}],
    }
    async with open_runtime(up, tmp_path, {"shared_across_tenants": True}, policies=policies) as rt:
        await rt.generate("m", "q", user="ann")
        with pytest.raises(PolicyDenied):
            await rt.generate("m", "q", user="intern")
    assert len(up.requests) == 1


async def test_a_hit_counts_against_rpm_but_uses_no_tokens_of_a_budget(up: FakeUpstream, tmp_path: Path) -> None:
    policies = {
        "backend": "memory",
        "limits": [{"scope": "user", "rpm": 2}],
        "budgets": [{"scope": "user", "period": "day", "max_tokens": 100000}],
    }
    up.script(Reply("answer", usage=(20, 5)), model="gpt-test")
    async with open_runtime(up, tmp_path, policies=policies) as rt:
        await rt.generate("m", "q", user="ann")
        hit = await rt.generate("m", "q", user="ann")
        with pytest.raises(RateLimitExceeded):
            await rt.generate("m", "q", user="ann")
        engine = rt.calls.policy
        assert isinstance(engine, PolicyEngine)
        explanation = await engine.explain(Principal("ann"), rt.models.resolve("m"))
    assert hit.cached
    [budget] = explanation.budgets
    assert (budget.used_tokens, budget.reserved_tokens) == (25, 0)  # the hit added nothing


async def test_hits_and_misses_are_counted_in_the_metrics(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        await rt.generate("m", "q")
        await rt.generate("m", "q")
        await rt.generate("m", "q")
        text = rt.services.get(Metrics).render().decode()
    assert 'agentrt_cache_lookups_total{model="m",result="hit"} 2.0' in text
    assert 'agentrt_cache_lookups_total{model="m",result="miss"} 1.0' in text


async def test_a_hit_takes_nothing_of_a_deployments_rpm(up: FakeUpstream, tmp_path: Path) -> None:
    settings = cache_config(up, tmp_path)
    settings["models"]["m"] = {
        "deployments": [{"provider": "oai", "name": "gpt-test", "rpm": 1}],
        "capabilities": ["chat", "streaming"],
    }
    async with Runtime.open(settings, plugins=False) as rt:
        first = await rt.generate("m", "q")
        hits = [await rt.generate("m", "q") for _ in range(3)]
        rows = await ledger_rows(rt)
    assert first.deployment == "oai/gpt-test"
    assert all(hit.cached for hit in hits)
    assert hits[0].deployment == "oai/gpt-test"  # where the answer came from
    assert len(up.requests) == 1
    assert [row[4] for row in rows] == [False, True, True, True]
