"""rt.stream: deltas, the final Completed, fallbacks only before the first event."""

from __future__ import annotations

from pathlib import Path

import pytest
from calls_support import RecordingPolicy, open_runtime

from agentrt.calls import PolicyHook
from agentrt.errors import CapabilityError, ProviderUnavailable
from agentrt.store.ledger import UsageLedger
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.types import Completed, StreamEvent, TextDelta, ToolCallDelta


async def collect(events: object) -> list[StreamEvent]:
    return [event async for event in events]  # type: ignore[attr-defined]


async def test_deltas_add_up_to_the_text_of_the_final_completion(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text="The quick brown fox jumps", usage=(12, 6), chunk_size=4))
    async with open_runtime(up, tmp_path) as rt:
        events = await collect(rt.stream("primary", "tell me"))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3
    final = events[-1]
    assert isinstance(final, Completed)
    assert "".join(deltas) == final.completion.text == "The quick brown fox jumps"
    assert (final.completion.usage.input_tokens, final.completion.usage.output_tokens) == (12, 6)
    assert final.completion.cost == pytest.approx((12 * 1.0 + 6 * 2.0) / 1_000_000)
    assert up.requests[-1].stream


async def test_a_stream_falls_back_before_its_first_event(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(status=502, times=3), model="gpt-test")
    up.script(Reply(text="backup speaking"), model="claude-test")
    async with open_runtime(up, tmp_path) as rt:
        events = await collect(rt.stream("primary", "hi"))
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.completion.text == "backup speaking"
    assert final.completion.model == "backup"
    assert [a.model for a in final.completion.attempts] == ["primary", "primary", "primary", "backup"]


async def test_a_stream_cut_after_output_fails_loudly_and_never_falls_back(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(cut_stream_after=3), Reply(text="The quick brown fox jumps over the lazy dog", chunk_size=3))
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    seen: list[StreamEvent] = []

    async def read_all() -> None:
        async for event in rt.stream("primary", "hi"):
            seen.append(event)

    async with rt:
        with pytest.raises(ProviderUnavailable, match="connection broke"):
            await read_all()
    assert seen  # output was delivered before the cut ...
    assert not any(isinstance(e, Completed) for e in seen)
    assert {r.model for r in up.requests} == {"gpt-test"}  # ... so the backup was never asked
    assert policy.released == []  # ... and what was delivered is charged, as the provider bills it
    [(reservation, usage, cost)] = policy.settled
    assert reservation == "reservation-1"
    delivered = sum(len(e.text) for e in seen if isinstance(e, TextDelta))
    assert usage.output_tokens >= delivered > 0  # a token per byte: an upper bound
    assert usage.input_tokens == policy.admitted[0].input_tokens
    assert cost is not None
    assert cost > 0


async def test_a_stream_that_fails_after_output_leaves_a_charged_ledger_row(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Fault(cut_stream_after=3), Reply(text="The quick brown fox jumps over the lazy dog", chunk_size=3))
    async with open_runtime(up, tmp_path, store={"url": f"sqlite:///{tmp_path / 'ledger.db'}"}) as rt:
        with pytest.raises(ProviderUnavailable):
            async for _ in rt.stream("primary", "hi"):
                pass
        ledger = rt.services.get(UsageLedger)
        await ledger.flush()
        rows = await ledger.store.fetchall("SELECT outcome, output_tokens, cost FROM agentrt_usage")
    [(outcome, output_tokens, cost)] = rows
    assert outcome == "ProviderUnavailable"
    assert output_tokens > 0
    assert cost > 0


async def test_a_consumer_that_stops_early_is_charged_for_what_it_was_given(up: FakeUpstream, tmp_path: Path) -> None:
    up.script(Reply(text="one two three four five six seven", chunk_size=3))
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        stream = rt.stream("primary", "hi")
        async for event in stream:
            assert isinstance(event, TextDelta)
            break
        await stream.aclose()  # type: ignore[attr-defined]
    assert policy.released == []
    [(reservation, usage, cost)] = policy.settled
    assert reservation == "reservation-1"
    assert usage.output_tokens >= 3  # the bytes delivered (a token per byte at most)
    assert usage.input_tokens == policy.admitted[0].input_tokens  # no count from the provider: the bound
    assert cost is not None
    assert cost > 0


async def test_streamed_tool_calls_arrive_as_deltas_and_whole_in_the_completion(
    up: FakeUpstream, tmp_path: Path
) -> None:
    from agentrt.types import ToolSpec

    up.script(Reply(tool_calls=[("lookup", {"order": "A-17"})]))
    spec = ToolSpec("lookup", "Find an order.", {"type": "object", "properties": {"order": {"type": "string"}}})
    async with open_runtime(up, tmp_path) as rt:
        events = await collect(rt.stream("primary", "where is A-17?", tools=[spec]))
    assert any(isinstance(e, ToolCallDelta) for e in events)
    final = events[-1]
    assert isinstance(final, Completed)
    assert [(c.name, c.arguments) for c in final.completion.tool_calls] == [("lookup", {"order": "A-17"})]


async def test_streaming_needs_the_streaming_capability(up: FakeUpstream, tmp_path: Path) -> None:
    async with open_runtime(up, tmp_path) as rt:
        with pytest.raises(CapabilityError) as caught:
            await collect(rt.stream("plain", "hi"))
    assert caught.value.capability == "streaming"
    assert up.requests == []
