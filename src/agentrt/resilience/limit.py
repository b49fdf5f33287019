"""A per-provider cap on calls in flight, with the statistics a monitor wants."""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["ConcurrencyLimit"]


class ConcurrencyLimit:
    """At most ``max_in_flight`` holders at a time; the others wait in FIFO order.

    ``async with limit: ...`` holds a slot for the block. A stream holds its slot
    across many awaits in different places, so :meth:`acquire` and
    :meth:`release` are public too; every successful ``acquire`` needs exactly
    one ``release``.
    """

    __slots__ = ("_in_flight", "_max_in_flight", "_semaphore", "_waiting")

    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be 1 or more, got {max_in_flight}")
        self._max_in_flight = max_in_flight
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._in_flight = 0
        self._waiting = 0

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    @property
    def in_flight(self) -> int:
        """Slots held now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot now."""
        return self._waiting

    async def acquire(self) -> None:
        """Wait for a slot and take it. Cancelled while waiting: no slot is taken."""
        semaphore = self._semaphore
        if semaphore.locked():
            self._waiting += 1
            try:
                await semaphore.acquire()
            finally:
                self._waiting -= 1
        else:
            # Free slot: the semaphore's acquire returns without suspending.
            await semaphore.acquire()
        self._in_flight += 1

    def release(self) -> None:
        """Give a slot back (wakes the longest waiter)."""
        if self._in_flight == 0:
            raise RuntimeError("ConcurrencyLimit.release() called more often than acquire()")
        self._in_flight -= 1
        self._semaphore.release()

    async def __aenter__(self) -> ConcurrencyLimit:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return (
            f"ConcurrencyLimit(max_in_flight={self._max_in_flight}, "
            f"in_flight={self._in_flight}, waiting={self._waiting})"
        )
