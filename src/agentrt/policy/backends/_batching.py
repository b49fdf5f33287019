"""Group commit: the operations of many concurrent calls written in one round trip.

A shared backend pays a round trip per write (a transaction on the store's
worker thread, a request to Redis). :class:`Batcher` queues operations and has
one writer task send everything queued in one go, so with many calls in flight
each pays a fraction of a round trip. Operations keep their order.

``submit`` waits for the operation's result; ``submit_nowait`` queues it and
returns (settle and release: the caller's call is done, and the write joins
the next batch — the same event-loop turn, or the next ``admit``). ``flush``
waits until everything queued so far is written; ``close`` flushes and
refuses more.

A caller cancelled while its reservation was being written never gets it; the
writer then releases it at once rather than letting it hold until it expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from agentrt.errors import RuntimeStateError

__all__ = ["Batcher", "Op"]

T = TypeVar("T")

_log = structlog.get_logger("agentrt.policy")


@dataclass(slots=True)
class Op:
    """One queued operation: what to do (``kind``), its arguments, and who waits for the result."""

    kind: str
    args: tuple[Any, ...]
    future: asyncio.Future[Any] | None = field(default=None, repr=False)


class Batcher(Generic[T]):
    """Runs queued :class:`Op`\\ s through ``write(ops) -> results`` (one result per op, in order)."""

    def __init__(
        self,
        name: str,
        write: Callable[[Sequence[Op]], Awaitable[Sequence[Any]]],
        undo: Callable[[Op, Any], Op | None] | None = None,
    ) -> None:
        self._name = name
        self._write = write
        self._undo = undo  # the op that undoes a result nobody will receive (a cancelled admit)
        self._queue: list[Op] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, kind: str, *args: Any) -> Any:
        """Queue an operation and wait for its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(Op(kind, args, future))
        return await future

    def submit_nowait(self, kind: str, *args: Any) -> None:
        """Queue an operation without waiting; a failure to write it is logged."""
        self._enqueue(Op(kind, args))

    def take_queued(self) -> list[Op]:
        """Remove and return what is queued, for a caller that sends it itself along with its own work."""
        queued, self._queue = self._queue, []
        return queued

    async def flush(self) -> None:
        """Wait until every operation queued before this call is written."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        if self._queue:
            self._start()
            await self.flush()

    async def close(self) -> None:
        """Write what is queued, then refuse more. Closing twice is harmless."""
        if self._closed:
            return
        await self.flush()
        self._closed = True

    def _enqueue(self, op: Op) -> None:
        if self._closed:
            raise RuntimeStateError(f"the {self._name} policy backend is closed: no more counting after close")
        self._queue.append(op)
        if self._writer is None or self._writer.done():
            self._start()

    def _start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._drain(), name=f"agentrt-policy-{self._name}")

    async def _drain(self) -> None:
        # By the time this runs, the task that queued the first op has queued what it had in the same
        # turn (a settle, then its next admit), and so have the tasks that ran before this one.
        while self._queue:
            ops, self._queue = self._queue, []
            try:
                results = await self._write(ops)
            except BaseException as err:
                self._fail(ops, err)
                if isinstance(err, asyncio.CancelledError):
                    raise
                continue
            for op, result in zip(ops, results, strict=True):
                future = op.future
                if future is None:
                    continue
                if future.done():  # the caller was cancelled: give back what it never received
                    undo = self._undo(op, result) if self._undo is not None else None
                    if undo is not None:
                        self._queue.append(undo)
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _fail(self, ops: Sequence[Op], err: BaseException) -> None:
        lost = 0
        for op in ops:
            if op.future is None:
                lost += 1
            elif not op.future.done():
                if isinstance(err, asyncio.CancelledError):
                    op.future.cancel()
                else:
                    op.future.set_exception(err)
        if lost:
            _log.error(
                "policy_writes_lost",
                backend=self._name,
                operations=lost,
                error=f"{type(err).__name__}: {err}",
                hint="their holds lapse after reservation_ttl; the usage of these calls is not counted",
            )
