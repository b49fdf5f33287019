"""Write records to the store in batches, off the hot path: what the usage ledger and the audit trail share.

``add(record)`` is an append to a list, cheap enough to run on every model
call. A background task wakes every ``flush_interval`` seconds (or as soon as
``batch_size`` records wait) and writes them, ``batch_size`` at a time, each
batch in one transaction (``store.executemany``). A batch leaves the list only
once its transaction committed, so a failed write loses nothing: it is logged
at error level and tried again, backing off up to ``max_backoff``.

Every write runs in one task at a time, shielded from the cancellation of
whoever waits for it: a cancelled ``flush()`` cannot leave a committed batch in
the list (which would write it twice) nor run two writes of the same records.

``close()`` stops the task and writes what is left, retrying until
``close_timeout``; records it still could not write are counted in an error
log line and the error is raised, so a stop that loses data never looks clean.

A writer may be ordered ``after`` another: each of its batches is written in
the transaction of the other's records queued before it, or after them (the
ledger after the audit trail, so a call's ledger row is never written before
its decisions: no SIGKILL can leave a call in the ledger without its audit
rows). One transaction for both, not two: a batch reaches the store as soon
as it did without the ordering. When that transaction fails, both keep their
records and try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Self, TypeVar

import structlog

from agentrt.errors import RuntimeStateError
from agentrt.store._base import Store
from agentrt.store.retention import Pruner

__all__ = ["BatchWriter", "BatchedTable"]

T = TypeVar("T")
# The statements of one transaction, as data, so that a store runs them in one round trip: (sql, rows) each.
Statements = list[tuple[str, Sequence[Sequence[Any]]]]

_log = structlog.get_logger("agentrt.store")


class BatchWriter(Generic[T]):
    """Buffers records of one kind and writes them with one INSERT statement, in batches.

    ``to_row`` turns a record into the INSERT's parameters; a record it cannot
    convert (``TypeError``/``ValueError``) is dropped with an error log line
    rather than blocking every record behind it. ``max_pending`` bounds memory
    while the database is unreachable: past it, the oldest records are dropped,
    counted in ``dropped`` and logged.
    """

    def __init__(
        self,
        store: Store,
        *,
        name: str,
        insert_sql: str,
        to_row: Callable[[T], Sequence[Any]],
        also: tuple[str, Callable[[T], Sequence[Any] | None]] | None = None,
        after: BatchWriter[Any] | None = None,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_pending: int = 1_000_000,
        max_backoff: float = 30.0,
        close_timeout: float = 10.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive seconds, got {flush_interval}")
        self.store = store
        self.name = name
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending = max(max_pending, batch_size)
        self.max_backoff = max_backoff
        self.close_timeout = close_timeout
        self.written = 0
        """Records written since this writer was created."""
        self.dropped = 0
        """Records given up on: unconvertible, or beyond ``max_pending`` while writes failed."""
        self.write_failures = 0
        """Batches whose write failed (each was kept and tried again)."""
        self._insert_sql = insert_sql
        self._to_row = to_row
        self._also = also
        self._after = after
        self._pending: list[T] = []
        # Records ever queued, and ever taken off the queue's front (written, rejected or dropped): a record
        # queued as the n-th is off the queue once `_taken >= n`, which is how a later writer orders itself.
        self._queued = 0
        self._taken = 0
        self._wake = asyncio.Event()  # set when batch_size records wait, or when stopping
        self._stop = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._writing: asyncio.Task[int] | None = None
        self._stopping = False
        self._closed = False

    # --- the hot path ----------------------------------------------------------------

    def add(self, record: T) -> None:
        """Queue one record; never waits, never does I/O. Raises ``RuntimeStateError`` once closed."""
        if self._closed:
            raise RuntimeStateError(
                f"the {self.name} writer is closed (the runtime is stopping): this record cannot be stored"
            )
        pending = self._pending
        pending.append(record)
        self._queued += 1
        if len(pending) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records queued and not yet written."""
        return len(self._pending)

    # --- lifetime --------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task that writes every ``flush_interval``; needs a running event loop."""
        if self._closed:
            raise RuntimeStateError(f"the {self.name} writer is closed; create a new one")
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._run(), name=f"agentrt-{self.name}-writer")

    async def flush(self) -> int:
        """Write everything queued now; return how many records this write stored.

        Raises what the store raised if a batch fails (the records stay queued).
        """
        mark = self._queued
        written = 0
        # A write under way may stop short of what is queued now (a later writer's, see _write_before).
        while self._taken < mark:
            written += await asyncio.shield(self._start_write())
        return written

    async def close(self) -> None:
        """Stop the background task and write every queued record. Closing twice is harmless.

        Retries a failing write until ``close_timeout``; then logs how many
        records are lost and raises the last error.
        """
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._stop.set()
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        deadline = time.monotonic() + self.close_timeout
        backoff = min(0.05, self.flush_interval)
        while self._pending:
            try:
                await self.flush()
            except RuntimeStateError:
                self._give_up("the store was closed before the writer")
                raise
            except Exception:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._give_up(f"the store kept failing for {self.close_timeout:g} s")
                    raise
                await asyncio.sleep(min(backoff, remaining))
                backoff = min(backoff * 2, self.max_backoff)

    # --- the background task -----------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.0
        while not self._stopping:
            if backoff:
                # While writes fail, a full batch must not wake us early: that would retry in a hot loop.
                await _wait(self._stop, backoff)
            else:
                await _wait(self._wake, self.flush_interval)
            self._wake.clear()
            if self._stopping or not self._pending:
                continue
            try:
                await self.flush()
            except Exception:
                # Logged by the write itself; the records stay queued. Back off while it keeps failing.
                backoff = min(max(backoff * 2, self.flush_interval), self.max_backoff)
            else:
                backoff = 0.0

    # --- writing -----------------------------------------------------------------------

    def _start_write(self) -> asyncio.Task[int]:
        writing = self._writing
        if writing is None or writing.done():
            writing = asyncio.get_running_loop().create_task(self._write_pending(), name=f"agentrt-{self.name}-write")
            writing.add_done_callback(_retrieve_exception)
            self._writing = writing
        return writing

    async def _write_before(self, statements: Statements) -> bool:
        """Write the records queued now, running ``statements`` in the transaction of the last batch of them.

        False (nothing run) when every record queued now is written already.
        """
        mark = self._queued
        while (writing := self._writing) is not None and not writing.done():
            with contextlib.suppress(Exception):  # its error was logged; ours, if the store still fails, is raised
                await asyncio.shield(writing)
        if self._taken >= mark:
            return False
        # As _start_write's task, so that no other write of this writer runs meanwhile (none is: checked above).
        writing = asyncio.get_running_loop().create_task(
            self._write_pending(through=mark, then=statements), name=f"agentrt-{self.name}-write"
        )
        writing.add_done_callback(_retrieve_exception)
        self._writing = writing
        await asyncio.shield(writing)
        return True

    async def _write_pending(self, through: int | None = None, then: Statements | None = None) -> int:
        """Write the queue (``through``: only up to the record queued as that number), in batches; ``then``
        runs in the transaction of the last batch."""
        written = 0
        pending = self._pending
        while pending and (through is None or self._taken < through):
            size = self.batch_size if through is None else min(self.batch_size, through - self._taken)
            batch = pending[:size]
            rows = self._rows(batch)
            last = then if through is not None and self._taken + len(batch) >= through else None
            if rows or last is not None:
                try:
                    await self._commit(batch, rows, last)
                except Exception as err:
                    self.write_failures += 1
                    _log.error(
                        "store_write_failed",
                        writer=self.name,
                        rows=len(batch),
                        pending=len(pending),
                        error=f"{type(err).__name__}: {err}",
                        store=self.store.url_for_logs,
                        next_step="kept; retried at the next flush",
                    )
                    self._bound_pending()
                    raise
            del pending[: len(batch)]  # only now: the batch is committed
            self._taken += len(batch)
            written += len(rows)
            self.written += len(rows)
        return written

    async def _commit(self, batch: list[T], rows: list[Sequence[Any]], then: Statements | None = None) -> None:
        statements: Statements = [(self._insert_sql, rows)] if rows else []
        if self._also is not None:
            to_params = self._also[1]
            extra = [params for params in map(to_params, batch) if params is not None]
            if extra:
                statements.append((self._also[0], extra))
        if then:
            statements.extend(then)
        after = self._after
        if after is not None and after.pending and await after._write_before(statements):
            return  # in the transaction of `after`'s records queued before this batch
        if len(statements) == 1:
            await self.store.executemany(*statements[0])
        elif statements:
            await self.store.executemany_each(statements)  # one transaction, one round trip

    def _rows(self, batch: list[T]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = []
        for record in batch:
            try:
                rows.append(self._to_row(record))
            except (TypeError, ValueError) as err:
                self.dropped += 1
                _log.error("store_record_rejected", writer=self.name, record=repr(record)[:300], error=str(err))
        return rows

    def _bound_pending(self) -> None:
        excess = len(self._pending) - self.max_pending
        if excess > 0:
            del self._pending[:excess]
            self._taken += excess
            self.dropped += excess
            _log.error(
                "store_records_dropped",
                writer=self.name,
                dropped=excess,
                kept=len(self._pending),
                reason=f"more than max_pending={self.max_pending} records queued while writes fail",
            )

    def _give_up(self, why: str) -> None:
        lost = len(self._pending)
        self.dropped += lost
        self._taken += lost
        self._pending.clear()
        _log.error("store_records_lost", writer=self.name, lost=lost, reason=why, store=self.store.url_for_logs)


class BatchedTable(Generic[T]):
    """A table that records of one kind are appended to in batches: the ledger's and the audit trail's shape.

    Subclasses name their ``component`` and its ``migrations``, the INSERT and
    how a record becomes its parameters. ``start()`` migrates the table and
    starts the writer; ``record()`` queues; ``flush()`` writes now; ``close()``
    writes everything and stops (also ``async with``).
    """

    component: ClassVar[str]
    migrations: ClassVar[Sequence[str | Mapping[str, str]]]
    insert_sql: ClassVar[str]
    pruner: Pruner | None = None
    """The background retention of this table, when ``store.retention`` sets an age for it."""
    also_sql: ClassVar[str | None] = None
    """A statement run once per record (``also_row``) in the transaction of its batch's INSERT."""

    def __init__(
        self,
        store: Store,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_pending: int = 1_000_000,
        after: BatchedTable[Any] | None = None,
    ) -> None:
        """``after``: a table whose queued records are written before each batch of this one's."""
        self.store = store
        self._writer: BatchWriter[T] = BatchWriter(
            store,
            name=self.component,
            insert_sql=self.insert_sql,
            to_row=self.to_row,
            also=None if self.also_sql is None else (self.also_sql, self.also_row),
            after=None if after is None else after.writer,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_pending=max_pending,
        )

    @staticmethod
    def to_row(record: T) -> Sequence[Any]:
        """The INSERT's parameters for ``record``; ``TypeError``/``ValueError`` rejects it."""
        raise NotImplementedError

    @staticmethod
    def also_row(record: T) -> Sequence[Any] | None:
        """The parameters of ``also_sql`` for ``record``; None runs nothing for it."""
        return None

    @property
    def writer(self) -> BatchWriter[T]:
        """The batch writer: its ``pending``, ``written``, ``dropped`` and ``write_failures`` counters."""
        return self._writer

    def record(self, rec: T) -> None:
        """Queue one record; no I/O, no waiting. ``RuntimeStateError`` after ``close()``."""
        self._writer.add(rec)

    async def start(self) -> None:
        """Create or upgrade the table, then start writing in the background."""
        await self.store.migrate(self.component, self.migrations)
        self._writer.start()

    async def flush(self) -> int:
        """Write every queued record now; return how many were written."""
        return await self._writer.flush()

    async def close(self) -> None:
        """Write every queued record, then stop. Closing twice is harmless."""
        await self._writer.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` have passed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _retrieve_exception(task: asyncio.Task[int]) -> None:
    # A write whose waiter was cancelled still finishes; its error was logged, so fetching it here
    # only keeps asyncio from reporting it a second time as "never retrieved".
    if not task.cancelled():
        task.exception()
