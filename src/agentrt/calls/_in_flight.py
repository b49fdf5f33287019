"""The model calls under way, so that a stopping runtime lets them finish before the policy and ledger stop.

A call that ended after the policy had stopped could not be settled: the
provider would bill it and no budget would know. So the calls service, which
stops before the policy and the ledger it depends on, first waits (bounded) for
the calls under way; only the count is kept, so a call pays two integer updates.
"""

from __future__ import annotations

import asyncio

__all__ = ["DRAIN_AT_STOP", "InFlight"]

DRAIN_AT_STOP = 5.0
"""Seconds a stopping runtime waits for the model calls under way before it stops the services they need."""


class InFlight:
    """A count of the calls under way, and a wait until there is none."""

    __slots__ = ("_count", "_idle")

    def __init__(self) -> None:
        self._count = 0
        self._idle: asyncio.Event | None = None

    @property
    def count(self) -> int:
        return self._count

    def enter(self) -> None:
        self._count += 1

    def leave(self) -> None:
        self._count -= 1
        if self._count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for no call to be under way; return how many still are."""
        if self._count == 0:
            return 0
        self._idle = idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await idle.wait()
        except TimeoutError:
            pass
        finally:
            self._idle = None
        return self._count
