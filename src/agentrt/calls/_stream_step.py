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
answer). A stream its reader leaves early (``break``,
``aclose()``, a cancelled task) is settled for what it delivered: the output
bytes streamed so far (a token per byte, an upper bound) plus the input
bound, and its ledger row says ``cancelled``. A stream that fails after it
delivered output is charged the same way (the provider bills what it sent), and
its ledger row names the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

from agentrt.calls._call import _Call
from agentrt.calls._candidates import CallHolds
from agentrt.calls._deadline import call_timeout
from agentrt.errors import ProviderTimeout
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

__all__ = ["MAX_BYTES_PER_TOKEN", "read_stream"]

MAX_BYTES_PER_TOKEN = 8
"""More UTF-8 bytes per output token than any common tokenizer averages over a whole answer: a stream with
more than ``cap * MAX_BYTES_PER_TOKEN`` bytes of output has certainly written past its cap of ``cap`` tokens."""


class _Delivered:
    """What the reader has been given so far: the text, the refusal, and the output bytes."""

    __slots__ = ("limit", "output_bytes", "refusal", "text")

    def __init__(self, output_cap: int | None) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.output_bytes = 0
        self.limit = output_cap * MAX_BYTES_PER_TOKEN if output_cap is not None else None

    def count(self, fragment: str) -> None:
        self.output_bytes += len(fragment) if fragment.isascii() else len(fragment.encode("utf-8", "surrogatepass"))

    @property
    def over(self) -> bool:
        return self.limit is not None and self.output_bytes > self.limit


async def read_stream(
    catalog: ModelCatalog,
    records: CallRecords,
    log: Any,
    holds: CallHolds,
    index: int,
    events: AsyncIterator[ProviderStreamEvent],
    call: _Call,
    attempts: list[Attempt],
    started: float,
    deadline: float | None,
) -> AsyncGenerator[StreamEvent, None]:
    """The events of the stream ``events`` served by candidate ``index``, ending with ``Completed``."""
    requested, served = holds.specs[0], holds.specs[index]
    cap = holds.requests[index].max_output_tokens
    delivered = _Delivered(cap)
    finish: StreamFinish | None = None
    settled = False
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
        usage = finish.usage
        if finish.finish_reason == "length" and delivered.over:
            usage = Usage(holds.input_bound(index), cap or 0)
        elif cap is not None and usage.output_tokens > cap:
            usage = _settled_at_cap(log, served.name, cap, usage)
        cost = catalog.cost(served, usage)
        settled = True
        await holds.settle(index, usage, cost)
        latency = perf_counter() - started
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
                holds.requests[index].messages,
                refusal,
                call.request_id,
            )
        )
    except (GeneratorExit, asyncio.CancelledError):  # the reader left early: charge what it was given
        if not settled:
            settled = True
            usage = Usage(holds.input_bound(index), _output_bound(delivered.output_bytes, cap))
            cost = catalog.cost(served, usage)
            await holds.settle(index, usage, cost)
            records.abandoned(requested, served, call, usage, cost, perf_counter() - started, attempts)
        raise
    except BaseException as err:
        if not settled:
            settled = True
            if delivered.output_bytes:  # the caller has output the provider bills: it is charged, not free
                usage = Usage(holds.input_bound(index), _output_bound(delivered.output_bytes, cap))
                cost = catalog.cost(served, usage)
                await holds.settle(index, usage, cost)
                records.failure(served, call, err, perf_counter() - started, len(attempts), usage, cost)
            else:
                await holds.release_all()
                records.failure(requested, call, err, perf_counter() - started, len(attempts))
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
