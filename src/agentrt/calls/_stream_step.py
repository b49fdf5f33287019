"""Reading one model call's stream: deadline, output cap, and the charge of a stream left early.

Every event of the stream must arrive before the call's deadline (the whole
stream is bounded, not only its first event). The output is counted as it
comes; when it passes what the provider was told it may write, by more than
any tokenizer could explain (:data:`MAX_BYTES_PER_TOKEN`), the upstream ignored
the cap: the stream is cut there and settled at the cap. A stream that ends
within that many bytes but whose provider counts more output tokens than the
cap it was sent (an upstream writing ordinary text past the cap) is settled at
the cap too, with a warning (``stream_settled_at_output_cap``): the budget,
the counters and the ledger row all count the cap, never the provider's larger
count, and the finish reason stays the provider's (the caller has the whole
answer).

A stream its reader leaves early (``break``, ``aclose()``, a cancelled task)
is settled for what it delivered: the output bytes streamed so far (a token
per byte, an upper bound) plus the input bound, and its ledger row says
``cancelled``. A stream that fails after it delivered output is charged the
same way (the provider bills what it sent), and its ledger row names the error.

When it is settled: ``aclose()`` (or ``async with aclosing(...)``) settles at
once, and so does a task cancelled while it waits on the stream (the
cancellation lands inside this generator). A reader that drops the stream
without closing it, ``break`` or a task cancelled while its own ``async for``
body awaits something else, leaves the generator suspended where it cannot see
that: it is settled when the event loop finalises it, at once when its last
reference goes, or at the next garbage collection when a traceback's cycle
holds it. Until then its hold stays, so the budget is over-held, never
exceeded; and a stream still open when the pipeline stops is settled then
(:class:`OpenStream`, ``CallPipeline.settle_open_streams``), while the policy
and the ledger still run, and refuses to be read on (``RuntimeStateError``).
Settling when the reading task ends is not done on purpose: a stream may be
read from several tasks in turn (one ``anext`` per task, as stream mergers
do), so the end of one of them does not mean the stream was left.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentrt.calls._call import _Call
from agentrt.calls._candidates import CallHolds
from agentrt.calls._deadline import call_timeout
from agentrt.errors import ProviderTimeout, RuntimeStateError
from agentrt.resilience.stream import close_quietly
from agentrt.types import (
    Attempt,
    Completed,
    Completion,
    ProviderStreamEvent,
    RefusalDelta,
    StreamEvent,
    StreamFinish,
    TextDelta,
    ToolCallDelta,
    Usage,
)

if TYPE_CHECKING:
    from agentrt.calls._records import CallRecords
    from agentrt.models import ModelCatalog

__all__ = ["MAX_BYTES_PER_TOKEN", "OpenStream", "read_stream", "settle_open_streams"]

MAX_BYTES_PER_TOKEN = 8
"""More UTF-8 bytes per output token than any common tokenizer averages over a whole answer: a stream with
more than ``cap * MAX_BYTES_PER_TOKEN`` bytes of output has certainly written past its cap of ``cap`` tokens."""


class _Delivered:
    """What the reader has been given so far: the text, the refusal, and the output bytes."""

    __slots__ = ("cap", "limit", "output_bytes", "refusal", "text")

    def __init__(self, output_cap: int | None) -> None:
        self.cap = output_cap
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.output_bytes = 0
        self.limit = output_cap * MAX_BYTES_PER_TOKEN if output_cap is not None else None

    def count(self, fragment: str) -> None:
        self.output_bytes += len(fragment) if fragment.isascii() else len(fragment.encode("utf-8", "surrogatepass"))

    @property
    def over(self) -> bool:
        return self.limit is not None and self.output_bytes > self.limit


class OpenStream:
    """One stream between its opening and its settle: what is needed to settle it for what it delivered.

    The pipeline keeps these in a ``WeakSet`` (a stream its reader dropped disappears with its generator),
    so that when it stops it can settle every stream still open while the policy and the ledger run.
    """

    __slots__ = (
        "__weakref__",
        "_done",
        "_ended",
        "_ending",
        "attempts",
        "call",
        "delivered",
        "holds",
        "index",
        "started",
    )

    def __init__(
        self, holds: CallHolds, index: int, call: _Call, attempts: list[Attempt], started: float, cap: int | None
    ) -> None:
        self.holds = holds
        self.index = index
        self.call = call
        self.attempts = attempts
        self.started = started
        self.delivered = _Delivered(cap)
        self._ending = False  # a settle or release began: nothing else may settle or release this stream
        self._ended = False
        self._done: asyncio.Event | None = None  # made only when the pipeline's stop waits for a settle in flight

    @property
    def settled(self) -> bool:
        """A settle (or, for a stream that failed before any output, a release) began."""
        return self._ending

    async def settle(self, usage: Usage, cost: float | None) -> None:
        """Settle the serving candidate at ``usage``; the caller checks ``settled`` first."""
        self._ending = True
        try:
            await self.holds.settle(self.index, usage, cost)
        finally:
            self._end()

    async def release(self) -> None:
        """Give every hold back (the stream failed before it delivered anything)."""
        self._ending = True
        try:
            await self.holds.release_all()
        finally:
            self._end()

    def _end(self) -> None:
        self._ended = True
        if self._done is not None:
            self._done.set()

    async def settle_delivered(self, catalog: ModelCatalog, records: CallRecords) -> None:
        """The reader left (or the pipeline stops): charge what it was given, ledger row ``cancelled``."""
        if self._ending:
            return
        holds, index = self.holds, self.index
        usage = Usage(holds.input_bound(index), _output_bound(self.delivered.output_bytes, self.delivered.cap))
        cost = catalog.cost(holds.specs[index], usage)
        await self.settle(usage, cost)
        latency = perf_counter() - self.started
        records.abandoned(holds.specs[0], holds.specs[index], self.call, usage, cost, latency, self.attempts)

    async def settle_at_stop(self, catalog: ModelCatalog, records: CallRecords) -> bool:
        """The pipeline stops: settle this stream for what it delivered (True), or wait for its settle in flight."""
        if not self._ending:
            await self.settle_delivered(catalog, records)
            return True
        if not self._ended:
            self._done = self._done or asyncio.Event()
            await self._done.wait()
        return False


async def settle_open_streams(
    open_streams: list[OpenStream], catalog: ModelCatalog, records: CallRecords, log: Any
) -> int:
    """Settle each of ``open_streams`` not yet settled for what it delivered (the pipeline stops); how many."""
    settled = 0
    for step in open_streams:
        try:
            settled += await step.settle_at_stop(catalog, records)
        except Exception as err:  # one stream failing to settle must not keep the others from it
            log.error(
                "stream_not_settled_at_stop",
                request_id=step.call.request_id,
                error_type=type(err).__name__,
                error=str(err),
            )
    if settled:
        log.warning(
            "streams_settled_at_stop",
            streams=settled,
            hint="streams still open when the runtime stopped were charged for what they had delivered; "
            "finish or close streams before stopping the runtime",
        )
    return settled


async def read_stream(
    catalog: ModelCatalog,
    records: CallRecords,
    log: Any,
    step: OpenStream,
    events: AsyncIterator[ProviderStreamEvent],
    deadline: float | None,
) -> AsyncGenerator[StreamEvent, None]:
    """The events of the stream ``events`` served by ``step``'s candidate, ending with ``Completed``."""
    holds, index, call, attempts, delivered = step.holds, step.index, step.call, step.attempts, step.delivered
    requested, served = holds.specs[0], holds.specs[index]
    cap = delivered.cap
    finish: StreamFinish | None = None
    try:
        while True:
            try:
                if deadline is None:
                    event = await anext(events)
                else:
                    async with asyncio.timeout_at(deadline):
                        event = await anext(events)
            except StopAsyncIteration:
                break
            except TimeoutError as err:
                raise call_timeout(requested, call.timeout) from err
            if step.settled:  # settled while it waited: the pipeline stopped
                raise RuntimeStateError(
                    f"the runtime stopped while this stream from {served.name!r} was open; it was charged for "
                    "what it had delivered. Finish or close streams (async with aclosing(...)) before stopping"
                )
            if isinstance(event, StreamFinish):
                finish = event
                break
            if isinstance(event, TextDelta):
                delivered.count(event.text)
                if delivered.over:
                    kept = _cut(log, served.name, cap, delivered, event.text)
                    if kept:
                        yield TextDelta(kept)
                    finish = StreamFinish("length", Usage(), [], served.name)
                    break
                delivered.text.append(event.text)
            elif isinstance(event, ToolCallDelta):
                delivered.count(event.arguments)
                if delivered.over:
                    _cut(log, served.name, cap, delivered, "")
                    finish = StreamFinish("length", Usage(), [], served.name)
                    break
            elif isinstance(event, RefusalDelta):
                delivered.count(event.text)
                delivered.refusal.append(event.text)
            yield event  # text, tool-call and refusal deltas go to the caller as they come
        if finish is None:
            raise ProviderTimeout(  # a client that ends a stream without StreamFinish broke its contract
                f"the stream from {served.name!r} ended without its final event", provider=served.provider
            )
        if step.settled:  # the pipeline stopped while the last event was on its way
            raise RuntimeStateError(
                f"the runtime stopped while this stream from {served.name!r} was open; it was charged for "
                "what it had delivered. Finish or close streams (async with aclosing(...)) before stopping"
            )
        usage = finish.usage
        if finish.finish_reason == "length" and delivered.over:
            usage = Usage(holds.input_bound(index), cap or 0)
        elif cap is not None and usage.output_tokens > cap:
            usage = _settled_at_cap(log, served.name, cap, usage)
        cost = catalog.cost(served, usage)
        await step.settle(usage, cost)
        latency = perf_counter() - step.started
        records.success(requested, served, call, usage, cost, latency, attempts)
        refusal = finish.refusal if finish.refusal is not None else ("".join(delivered.refusal) or None)
        yield Completed(
            Completion(
                "".join(delivered.text),
                finish.tool_calls,
                finish.finish_reason,
                usage,
                cost,
                served.name,
                served.provider,
                attempts,
                latency,
                None,
                holds.request(index).messages,
                refusal,
                call.request_id,
                served.deployment.label if served.deployment is not None else None,
            )
        )
    except (GeneratorExit, asyncio.CancelledError):  # the reader left early: charge what it was given
        await step.settle_delivered(catalog, records)
        raise
    except BaseException as err:
        if not step.settled:
            if delivered.output_bytes:  # the caller has output the provider bills: it is charged, not free
                usage = Usage(holds.input_bound(index), _output_bound(delivered.output_bytes, cap))
                cost = catalog.cost(served, usage)
                await step.settle(usage, cost)
                records.failure(served, call, err, perf_counter() - step.started, len(attempts), usage, cost)
            else:
                await step.release()
                records.failure(requested, call, err, perf_counter() - step.started, len(attempts))
        raise
    finally:
        await close_quietly(events)


def _cut(log: Any, model: str, cap: int | None, delivered: _Delivered, text: str) -> str:
    """The upstream wrote past the cap: log it, and return the part of ``text`` that fits the limit."""
    assert delivered.limit is not None  # only a stream with a cap can pass it
    before = delivered.output_bytes - len(text.encode("utf-8", "surrogatepass"))
    kept = text[: max(delivered.limit - before, 0)]
    delivered.text.append(kept)
    log.warning(
        "stream_cut_at_output_cap",
        model=model,
        output_cap=cap,
        hint="the upstream wrote past the output limit it was sent; the stream was cut there and settled at the cap",
    )
    return kept


def _settled_at_cap(log: Any, model: str, cap: int, usage: Usage) -> Usage:
    """The provider counted more output than the cap it was sent: log it, and settle at the cap."""
    log.warning(
        "stream_settled_at_output_cap",
        model=model,
        output_cap=cap,
        output_tokens=usage.output_tokens,
        hint="the upstream wrote past the output limit it was sent; the call was settled at the cap, so the "
        "budget and the ledger count the cap, not the provider's count (check the provider's bill)",
    )
    return Usage(usage.input_tokens, cap, usage.cached_tokens)


def _output_bound(output_bytes: int, cap: int | None) -> int:
    """An upper bound of the tokens in ``output_bytes`` bytes of output (a token per byte, at most the cap)."""
    return min(output_bytes, cap) if cap is not None else output_bytes
