"""Guarded streams: retries and fallback before the first event, none after; idle timeout; the slot."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from resilience_fakes import FakeClock, ScriptedStream, StreamScript, make_guard, until

from agentrt.errors import ProviderAuthError, ProviderTimeout, ProviderUnavailable
from agentrt.resilience import CircuitState, GuardedStream, StreamCandidate, stream_plan
from agentrt.types import Attempt


def unavailable(text: str = "connection dropped") -> ProviderUnavailable:
    return ProviderUnavailable(text)


async def collect(stream: GuardedStream[str]) -> list[str]:
    return [event async for event in stream]


async def test_a_stream_yields_every_event_then_frees_its_slot() -> None:
    guard = make_guard(max_in_flight=1)
    source = ScriptedStream(StreamScript(["Hel", "lo", "finish"]))
    attempts: list[Attempt] = []

    stream = await guard.open_stream(source, model="m", attempts=attempts)
    assert guard.limit.in_flight == 1  # held while the reader reads
    assert await collect(stream) == ["Hel", "lo", "finish"]

    assert stream.finished
    assert guard.limit.in_flight == 0
    assert source.endings == ["done"]
    assert len(attempts) == 1
    assert attempts[0].ok


async def test_a_failure_before_the_first_event_is_retried_like_a_plain_call() -> None:
    guard = make_guard(attempts=3)
    source = ScriptedStream(
        StreamScript(error=unavailable()),
        StreamScript(error=ProviderTimeout("upstream timed out")),
        StreamScript(["a", "b"]),
    )
    attempts: list[Attempt] = []

    stream = await guard.open_stream(source, model="m", attempts=attempts)

    assert await collect(stream) == ["a", "b"]
    assert source.calls == 3
    assert [a.error_type for a in attempts] == ["ProviderUnavailable", "ProviderTimeout", None]
    assert guard.limit.in_flight == 0


async def test_no_first_event_within_the_timeout_is_a_provider_timeout_and_retried() -> None:
    guard = make_guard(attempts=2, timeout=0.01)
    source = ScriptedStream(StreamScript(["never"], hang_after=0), StreamScript(["ok"]))
    attempts: list[Attempt] = []

    stream = await guard.open_stream(source, model="m", attempts=attempts)

    assert await collect(stream) == ["ok"]
    assert attempts[0].error_type == "ProviderTimeout"
    assert source.endings == ["cancelled", "done"]


async def test_a_failure_after_the_first_event_reaches_the_reader_and_is_not_retried() -> None:
    guard = make_guard(attempts=5, failures=1)
    source = ScriptedStream(StreamScript(["partial"], error=unavailable("dropped mid-stream")))
    attempts: list[Attempt] = []
    stream = await guard.open_stream(source, model="m", attempts=attempts)
    seen: list[str] = []

    async def read_all() -> None:
        async for event in stream:
            seen.append(event)

    with pytest.raises(ProviderUnavailable, match="dropped mid-stream"):
        await read_all()

    assert seen == ["partial"]
    assert source.calls == 1
    assert guard.limit.in_flight == 0
    assert guard.breaker.state is CircuitState.OPEN  # the final outcome was recorded
    assert attempts[0].error == "ProviderUnavailable: dropped mid-stream"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_an_idle_stream_times_out_with_provider_timeout() -> None:
    guard = make_guard("openai", timeout=0.01)
    source = ScriptedStream(StreamScript(["first", "second"], hang_after=1))
    attempts: list[Attempt] = []
    stream = await guard.open_stream(source, model="gpt", attempts=attempts)

    assert await anext(stream) == "first"
    with pytest.raises(ProviderTimeout, match=r"no event for 0\.01s") as caught:
        await anext(stream)

    assert (caught.value.provider, caught.value.model) == ("openai", "gpt")
    assert guard.limit.in_flight == 0
    assert source.endings == ["cancelled"]
    assert attempts[0].error_type == "ProviderTimeout"


async def test_closing_a_stream_early_frees_the_slot_and_closes_the_provider_stream() -> None:
    guard = make_guard(max_in_flight=1, failures=1)
    source = ScriptedStream(StreamScript(["a", "b", "c"]))
    stream = await guard.open_stream(source, model="m", attempts=[])

    assert await anext(stream) == "a"
    assert await anext(stream) == "b"
    await stream.aclose()
    await stream.aclose()  # harmless when repeated

    assert guard.limit.in_flight == 0
    assert source.endings == ["closed"]
    assert guard.breaker.state is CircuitState.CLOSED
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_closing_before_reading_the_first_event_frees_the_slot() -> None:
    guard = make_guard(max_in_flight=1)
    source = ScriptedStream(StreamScript(["a", "b"]))
    async with await guard.open_stream(source, model="m", attempts=[]) as stream:
        assert guard.limit.in_flight == 1
    assert stream.finished
    assert guard.limit.in_flight == 0
    assert source.endings == ["closed"]


async def test_the_next_stream_waits_for_the_slot_of_an_open_one() -> None:
    guard = make_guard(max_in_flight=1)
    source = ScriptedStream(StreamScript(["a", "b"]), StreamScript(["c"]))
    first = await guard.open_stream(source, model="m", attempts=[])
    second = asyncio.create_task(guard.open_stream(source, model="m", attempts=[]))

    await until(lambda: guard.limit.waiting == 1)
    assert source.calls == 1
    await first.aclose()
    assert await collect(await second) == ["c"]


async def test_a_reader_cancelled_mid_stream_frees_the_slot() -> None:
    guard = make_guard(max_in_flight=1)
    source = ScriptedStream(StreamScript(["a", "b"], hang_after=1))
    stream = await guard.open_stream(source, model="m", attempts=[])
    assert await anext(stream) == "a"

    reader = asyncio.create_task(anext(stream))
    await until(lambda: source.hanging == 1)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader

    assert guard.limit.in_flight == 0
    await stream.aclose()


async def test_an_empty_stream_is_an_empty_success() -> None:
    guard = make_guard(max_in_flight=1)
    attempts: list[Attempt] = []
    stream = await guard.open_stream(ScriptedStream(StreamScript([])), model="m", attempts=attempts)
    assert await collect(stream) == []
    assert guard.limit.in_flight == 0
    assert attempts[0].ok


# --- the streaming plan ----------------------------------------------------------------------


async def test_stream_plan_falls_back_before_the_first_event() -> None:
    first = ScriptedStream(StreamScript(error=unavailable()))
    second = ScriptedStream(StreamScript(["from", "second"]))
    attempts: list[Attempt] = []

    stream, index = await stream_plan(
        [StreamCandidate("a", make_guard("pa", attempts=1), first), StreamCandidate("b", make_guard("pb"), second)],
        attempts=attempts,
    )

    assert index == 1
    assert await collect(stream) == ["from", "second"]
    assert [(a.model, a.error_type) for a in attempts] == [("a", "ProviderUnavailable"), ("b", None)]


async def test_stream_plan_never_falls_back_after_the_first_event() -> None:
    first = ScriptedStream(StreamScript(["partial"], error=unavailable("dropped")))
    second = ScriptedStream(StreamScript(["never"]))

    stream, index = await stream_plan(
        [StreamCandidate("a", make_guard("pa"), first), StreamCandidate("b", make_guard("pb"), second)],
        attempts=[],
    )
    assert index == 0
    assert await anext(stream) == "partial"
    with pytest.raises(ProviderUnavailable, match="dropped"):
        await anext(stream)
    assert second.calls == 0


async def test_stream_plan_raises_non_retryable_errors_at_once() -> None:
    second = ScriptedStream()
    with pytest.raises(ProviderAuthError):
        await stream_plan(
            [
                StreamCandidate("a", make_guard(), ScriptedStream(StreamScript(error=ProviderAuthError("401")))),
                StreamCandidate("b", make_guard(), second),
            ],
            attempts=[],
        )
    assert second.calls == 0


async def test_stream_plan_raises_the_one_kind_of_error_when_no_candidate_delivers_an_event() -> None:
    clock = FakeClock()
    with pytest.raises(ProviderUnavailable) as caught:
        await stream_plan(
            [
                StreamCandidate("a", make_guard("pa", attempts=1), ScriptedStream(StreamScript(error=unavailable()))),
                StreamCandidate(
                    "b",
                    make_guard("pb", attempts=1, clock=clock),
                    ScriptedStream(StreamScript(error=unavailable("b down"))),
                ),
            ],
            attempts=[],
        )
    assert str(caught.value) == "b down"  # the last error itself, every try attached
    assert [(a.model, a.provider) for a in caught.value.attempts] == [("a", "pa"), ("b", "pb")]


async def test_a_plain_async_iterator_without_aclose_is_guarded_too() -> None:
    class Countdown:
        def __init__(self) -> None:
            self.left = 2

        def __aiter__(self) -> Countdown:
            return self

        async def __anext__(self) -> str:
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            return str(self.left)

    guard = make_guard(max_in_flight=1)
    stream = await guard.open_stream(Countdown, model="m", attempts=[])
    async with contextlib.aclosing(stream):
        assert await anext(stream) == "1"
    assert guard.limit.in_flight == 0


async def test_a_stream_that_is_the_half_open_trial_closes_the_breaker_when_it_ends() -> None:
    clock = FakeClock()
    guard = make_guard(attempts=1, failures=1, cooldown=5.0, clock=clock)
    with pytest.raises(ProviderUnavailable):
        await guard.open_stream(ScriptedStream(StreamScript(error=unavailable())), model="m", attempts=[])
    clock.advance(5.0)

    stream = await guard.open_stream(ScriptedStream(StreamScript(["a", "b"])), model="m", attempts=[])
    assert guard.breaker.state is CircuitState.HALF_OPEN  # the trial is still streaming
    assert await collect(stream) == ["a", "b"]
    assert guard.breaker.state is CircuitState.CLOSED


class Connection:
    """A provider stream that is not a generator (like an HTTP body reader): it must be closed on failure."""

    def __init__(self, events: list[str], error: Exception | None) -> None:
        self.events = events
        self.error = error  # None: stall after the events
        self.closed = False

    def __aiter__(self) -> Connection:
        return self

    async def __anext__(self) -> str:
        if self.events:
            return self.events.pop(0)
        if self.error is None:
            await asyncio.Event().wait()
        raise self.error or AssertionError("unreachable")

    async def aclose(self) -> None:
        self.closed = True
        raise RuntimeError("closing failed too")  # must not hide the stream's own error


async def test_a_stream_failing_mid_way_is_closed_and_its_own_error_reaches_the_reader() -> None:
    connection = Connection(["a"], unavailable("reset by peer"))
    stream = await make_guard().open_stream(lambda: connection, model="m", attempts=[])
    assert await anext(stream) == "a"

    with pytest.raises(ProviderUnavailable, match="reset by peer"):
        await anext(stream)
    assert connection.closed


async def test_a_stream_failing_before_its_first_event_is_closed_before_the_retry() -> None:
    refused = Connection([], unavailable("refused"))
    connections = [refused, Connection(["ok"], unavailable("unused"))]
    stream = await make_guard(attempts=2).open_stream(lambda: connections.pop(0), model="m", attempts=[])
    assert await anext(stream) == "ok"
    assert refused.closed


async def test_an_idle_stream_is_closed_when_it_times_out() -> None:
    connection = Connection(["a"], None)
    stream = await make_guard(timeout=0.01).open_stream(lambda: connection, model="m", attempts=[])
    assert await anext(stream) == "a"

    with pytest.raises(ProviderTimeout):
        await anext(stream)
    assert connection.closed
