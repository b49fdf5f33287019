"""Streams keep the promises: left early they are charged, past the cap they are cut, and a deadline bounds them.
Also what every call carries: the refusal, the request id, and an input bound that counts everything sent."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest
from calls_support import RecordingPolicy, ScriptedClient, log_events, open_runtime, use_client

from agentrt.calls import PolicyHook, request_id
from agentrt.errors import ProviderTimeout, RuntimeStateError
from agentrt.store import UsageLedger
from agentrt.testing import FakeUpstream, Reply
from agentrt.types import (
    Completed,
    ProviderResponse,
    RefusalDelta,
    StreamEvent,
    StreamFinish,
    TextDelta,
    Usage,
)


def with_ledger(tmp_path: Path) -> dict[str, Any]:
    return {"url": f"sqlite:///{tmp_path / 'ledger.db'}"}


async def ledger_rows(rt: Any) -> list[tuple[Any, ...]]:
    ledger = rt.services.get(UsageLedger)
    await ledger.flush()
    return list(
        await ledger.store.fetchall(
            "SELECT request_id, outcome, input_tokens, output_tokens, cost FROM agentrt_usage ORDER BY ts"
        )
    )


async def drain(events: Any) -> None:
    """Read a stream to its end, failing the test if that takes over 10 s."""
    async with asyncio.timeout(10):
        async for _ in events:
            pass


# --- 10.1: abandoned streams are charged ----------------------------------------------


async def test_a_python_break_out_of_a_stream_is_charged_and_recorded_as_cancelled(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Reply(text="x" * 400, chunk_size=10, usage=(20, 100)))
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path, store=with_ledger(tmp_path))
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        seen = 0
        async for event in rt.stream("primary", "tell me"):
            assert isinstance(event, TextDelta)
            seen += 1
            if seen == 3:
                break  # no aclose(): the generator is finalised by the event loop
        gc.collect()
        for _ in range(20):
            await asyncio.sleep(0.01)
            if policy.settled:
                break
        rows = await ledger_rows(rt)
        metrics = rt.metrics.render().decode()
    [(_, usage, cost)] = policy.settled
    assert policy.released == []
    assert 'outcome="cancelled"' in metrics
    tokens = 'agentrt_model_tokens_total{direction="output"'
    [output] = [line for line in metrics.splitlines() if line.startswith(tokens)]
    assert float(output.rsplit(" ", 1)[1]) == usage.output_tokens  # the metrics count what was charged
    assert 30 <= usage.output_tokens <= 400  # at least the 30 bytes delivered, at most a token per byte of output
    assert usage.input_tokens == policy.admitted[0].input_tokens
    assert cost is not None
    assert cost > 0
    [(_, outcome, input_tokens, output_tokens, row_cost)] = rows
    assert (outcome, input_tokens, output_tokens) == ("cancelled", usage.input_tokens, usage.output_tokens)
    assert row_cost == pytest.approx(cost)


async def test_a_cancelled_streaming_task_is_charged_for_what_it_delivered(up: FakeUpstream, tmp_path: Path) -> None:
    client = ScriptedClient(events=[TextDelta("hello ")], endless=TextDelta("more "), pause=0.01)
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path, store=with_ledger(tmp_path))
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    delivered: list[str] = []
    five = asyncio.Event()

    async def consume() -> None:
        async for event in rt.stream("primary", "talk", max_output_tokens=900):
            assert isinstance(event, TextDelta)
            delivered.append(event.text)
            if len(delivered) == 5:
                five.set()

    async with rt:
        use_client(rt, client)
        task = asyncio.create_task(consume())
        async with asyncio.timeout(10):
            await five.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rows = await ledger_rows(rt)
    [(_, usage, _)] = policy.settled
    assert usage.output_tokens >= len("".join(delivered))
    assert usage.output_tokens < len("".join(delivered)) + 20  # what was delivered, not the hold of 900
    assert [r[1] for r in rows] == ["cancelled"]
    assert client.closed == 1  # the provider's stream was closed too


async def test_a_stream_open_when_the_runtime_stops_is_settled_once_and_refuses_to_be_read_on(
    up: FakeUpstream, tmp_path: Path
) -> None:
    up.script(Reply(text="x" * 400, chunk_size=10, usage=(20, 100)))
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path, store=with_ledger(tmp_path))
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    await rt.start()
    events = rt.stream("primary", "tell me")
    for _ in range(3):
        assert isinstance(await anext(events), TextDelta)  # type: ignore[call-overload]
    await rt.stop()  # the caller still holds the stream
    [(_, usage, _)] = policy.settled
    assert 30 <= usage.output_tokens <= 400  # what it delivered, a token per byte at most
    with pytest.raises(RuntimeStateError, match="runtime stopped while this stream"):
        await anext(events)  # type: ignore[call-overload]
    await events.aclose()  # type: ignore[attr-defined]
    assert len(policy.settled) == 1  # settled once: the generator's own exit found it settled
    assert policy.released == []
    [stopped] = log_events(rt, "streams_settled_at_stop")
    assert stopped["streams"] == 1
    [abandoned] = log_events(rt, "model_call_abandoned")
    assert abandoned["output_tokens"] == usage.output_tokens


async def test_a_stream_read_to_its_completion_but_still_held_at_stop_is_not_settled_again(
    up: FakeUpstream, tmp_path: Path
) -> None:
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    await rt.start()
    events = rt.stream("primary", "tell me")
    async for event in events:
        if isinstance(event, Completed):
            break  # the generator stays suspended after its last event, held by `events`
    await rt.stop()
    assert len(policy.settled) == 1
    assert log_events(rt, "streams_settled_at_stop") == []
    await events.aclose()  # type: ignore[attr-defined]


async def test_a_stream_waiting_on_its_upstream_when_the_runtime_stops_is_settled_once(
    up: FakeUpstream, tmp_path: Path
) -> None:
    client = ScriptedClient(events=[TextDelta("first ")], endless=TextDelta("."), pause=0.2)
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    await rt.start()
    use_client(rt, client)
    events = rt.stream("primary", "tell me", fallbacks=[])
    assert await anext(events) == TextDelta("first ")  # type: ignore[call-overload]
    reader = asyncio.create_task(anext(events))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)  # the reader now waits on the upstream's next event
    await rt.stop()
    with pytest.raises(RuntimeStateError):
        await reader  # the next event arrived after the stream was settled: not delivered
    await events.aclose()  # type: ignore[attr-defined]
    [(_, usage, _)] = policy.settled
    assert usage.output_tokens == len("first ")
    assert client.closed == 1


async def test_a_stream_carries_the_request_id_current_when_it_was_called(up: FakeUpstream, tmp_path: Path) -> None:
    rt = open_runtime(up, tmp_path, store=with_ledger(tmp_path))
    async with rt:
        token = request_id.set("set-by-the-server")
        events = rt.stream("primary", "hi")
        request_id.reset(token)  # e.g. a middleware's context ends before the body is streamed
        await drain(events)
        rows = await ledger_rows(rt)
    assert [rid for rid, *_ in rows] == ["set-by-the-server"]


# --- 10.11: everything sent is counted; a stream past the cap is cut --------------------


async def test_the_input_bound_counts_extra_params_and_the_response_schema(up: FakeUpstream, tmp_path: Path) -> None:
    functions = [{"name": f"f{i}", "description": "d" * 400, "parameters": {"type": "object"}} for i in range(100)]
    properties = {f"p{i}": {"type": "string", "description": "x" * 100} for i in range(50)}
    schema = {"type": "object", "properties": properties}
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        await rt.generate("primary", "hi")
        await rt.generate("primary", "hi", functions=functions)
        await rt.generate(
            "primary", "hi", response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
        )
    plain, with_functions, with_schema = (a.input_tokens for a in policy.admitted)
    assert with_functions - plain >= 40_000  # the 40 KB functions field is part of what is sent
    assert with_schema - plain >= 5_000


async def test_a_stream_past_its_output_cap_is_cut_there_and_settled_at_the_cap(
    up: FakeUpstream, tmp_path: Path
) -> None:
    client = ScriptedClient(endless=TextDelta("word "))  # an upstream that ignores the cap, for ever
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path)
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        use_client(rt, client)
        async with asyncio.timeout(10):
            events = [e async for e in rt.stream("primary", "talk", max_output_tokens=20)]
        warnings = log_events(rt, "stream_cut_at_output_cap")
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.completion.finish_reason == "length"
    assert final.completion.usage.output_tokens == 20
    assert [u.output_tokens for _, u, _ in policy.settled] == [20]
    assert len(final.completion.text.encode()) <= 20 * 8
    assert client.requests[0].max_output_tokens == 20
    assert client.closed == 1
    assert len(warnings) == 1


async def test_a_stream_the_provider_counts_past_its_cap_is_settled_at_the_cap_in_budget_and_ledger(
    up: FakeUpstream, tmp_path: Path
) -> None:
    # 600 bytes of ordinary text (4 bytes a token): too few to be cut, but 150 tokens by the provider's count.
    up.script(Reply(text="abcd" * 150, usage=(5, 150)))
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path, store=with_ledger(tmp_path))
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        token = request_id.set("past-cap")
        try:
            events = [e async for e in rt.stream("primary", "talk", max_output_tokens=100)]
        finally:
            request_id.reset(token)
        rows = await ledger_rows(rt)
        warnings = log_events(rt, "stream_settled_at_output_cap")
    final = events[-1]
    assert isinstance(final, Completed)
    assert final.completion.text == "abcd" * 150  # the caller has it all: nothing was cut
    assert final.completion.finish_reason == "stop"  # the provider's: the answer is whole
    assert final.completion.usage == Usage(5, 100)
    assert [u for _, u, _ in policy.settled] == [Usage(5, 100)]
    assert [(rid, outcome, i, o) for rid, outcome, i, o, _ in rows] == [("past-cap", "ok", 5, 100)]
    assert [(w["output_cap"], w["output_tokens"]) for w in warnings] == [(100, 150)]


# --- 10.12: the call's deadline covers the slot wait and the whole stream ---------------


async def test_a_trickling_stream_ends_at_the_calls_timeout(up: FakeUpstream, tmp_path: Path) -> None:
    client = ScriptedClient(endless=TextDelta("."), pause=0.02)  # each event well within the idle timeout
    rt = open_runtime(up, tmp_path)
    async with rt:
        use_client(rt, client)
        started = asyncio.get_running_loop().time()
        with pytest.raises(ProviderTimeout, match=r"timeout of 0\.3s"):
            await drain(rt.stream("primary", "hi", timeout=0.3, fallbacks=[]))
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed < 2
    assert client.closed == 1


async def test_without_a_timeout_a_default_deadline_bounds_streams_and_slot_waits(
    up: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentrt.calls import _deadline

    monkeypatch.setattr(_deadline, "DEFAULT_CALL_TIMEOUT", 0.3)
    client = ScriptedClient(events=[TextDelta("first")], endless=TextDelta("."), pause=0.02)
    providers = {
        "oai": {
            "kind": "openai",
            "api_key": "sk-test-key-0123456789",
            "base_url": up.openai_base_url,
            "max_concurrency": 1,
        }
    }
    models = {"solo": {"provider": "oai", "name": "gpt-solo"}}
    async with open_runtime(up, tmp_path, providers=providers, models=models) as rt:
        use_client(rt, client)
        holder = rt.stream("solo", "hold the only slot")
        assert isinstance(await anext(holder), TextDelta)  # type: ignore[call-overload]
        with pytest.raises(ProviderTimeout, match="default deadline"):
            async with asyncio.timeout(10):
                await rt.generate("solo", "waits for the slot")
        with pytest.raises(ProviderTimeout, match="default deadline"):
            await drain(holder)


# --- refusals -------------------------------------------------------------------------


async def test_a_refusal_reaches_the_completion_and_the_stream(up: FakeUpstream, tmp_path: Path) -> None:
    response = ProviderResponse("", [], "refusal", Usage(5, 3), "gpt-test", refusal="I can't help with that")
    stream_events = [
        RefusalDelta("I can't "),
        RefusalDelta("help"),
        StreamFinish("refusal", Usage(5, 3), [], "gpt-test", refusal="I can't help"),
    ]
    async with open_runtime(up, tmp_path) as rt:
        use_client(rt, ScriptedClient(response=response, events=stream_events))
        plain = await rt.generate("primary", "something bad")
        events: list[StreamEvent] = [e async for e in rt.stream("primary", "something bad")]
    assert (plain.refusal, plain.finish_reason, plain.text) == ("I can't help with that", "refusal", "")
    assert [e.text for e in events if isinstance(e, RefusalDelta)] == ["I can't ", "help"]
    final = events[-1]
    assert isinstance(final, Completed)
    assert (final.completion.refusal, final.completion.finish_reason) == ("I can't help", "refusal")


# --- 10.7: a request id per call --------------------------------------------------------


async def test_every_call_has_a_request_id_in_completion_ledger_log_and_admission(
    up: FakeUpstream, tmp_path: Path
) -> None:
    policy = RecordingPolicy()
    rt = open_runtime(up, tmp_path, store=with_ledger(tmp_path))
    rt.override(PolicyHook, policy)  # type: ignore[type-abstract]
    async with rt:
        first = await rt.generate("primary", "one")
        second = await rt.generate("primary", "two")
        streamed = [e async for e in rt.stream("primary", "three")][-1]
        token = request_id.set("from-the-gateway")
        try:
            third = await rt.generate("primary", "four")
        finally:
            request_id.reset(token)
        rows = await ledger_rows(rt)
        lines = log_events(rt, "model_call")
    assert isinstance(streamed, Completed)
    ids = [first.request_id, second.request_id, streamed.completion.request_id, third.request_id]
    assert all(ids)
    assert len(set(ids)) == 4
    assert ids[3] == "from-the-gateway"
    assert request_id.get() is None  # a call's own id never leaks into the caller's context
    assert [r[0] for r in rows] == ids
    assert [line["request_id"] for line in lines] == ids
    assert [a.request_id for a in policy.admitted] == ids


async def test_the_call_span_carries_the_request_id(up: FakeUpstream, tmp_path: Path) -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentrt.config import TracingSection
    from agentrt.observability import Tracing

    exporter = InMemorySpanExporter()
    rt = open_runtime(up, tmp_path)
    rt.override(Tracing, Tracing(TracingSection(enabled=True), span_processor=SimpleSpanProcessor(exporter)))
    async with rt:
        completion = await rt.generate("primary", "hi")
        streamed = [e async for e in rt.stream("primary", "hi")][-1]
    assert isinstance(streamed, Completed)
    spans = [s for s in exporter.get_finished_spans() if s.name == "chat primary"]
    assert completion.request_id
    assert [(s.attributes or {}).get("agentrt.request_id") for s in spans] == [
        completion.request_id,
        streamed.completion.request_id,
    ]
