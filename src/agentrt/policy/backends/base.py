"""The one small protocol every policy backend implements.

A backend holds the counters: sliding windows (one per limit and scope key)
and budget counters (one per budget, scope key and period). The engine does
the deciding *what* to charge; the backend does the *atomic* part: check every
charge of a reservation and hold them all, or hold none and say which check
failed. No other process, task or thread may see or change the counters
between the check and the hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agentrt.policy.reservation import BudgetLevel, Denial, Reservation

__all__ = ["BudgetCounter", "PolicyBackend", "Snapshot", "WindowCounter"]


@dataclass(frozen=True, slots=True)
class WindowCounter:
    """A window as it stands: requests admitted in the last 60 s, their tokens, and their times (oldest first)."""

    requests: int = 0
    tokens: int = 0
    entries: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True, slots=True)
class BudgetCounter:
    """A budget counter as it stands: what settled calls used and live reservations hold."""

    used_tokens: int = 0
    used_cost: int = 0
    reserved_tokens: int = 0
    reserved_cost: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The counters asked for, by key. A key with nothing counted yet maps to an empty counter."""

    windows: dict[str, WindowCounter]
    budgets: dict[str, BudgetCounter]


@runtime_checkable
class PolicyBackend(Protocol):
    """Where counters live. ``now`` is always the engine's clock (epoch seconds), so tests can drive time."""

    name: str
    """``memory``, ``sqlite`` or ``redis``: shown in explanations and logs."""

    async def open(self) -> None:
        """Connect and create what the backend needs; opening twice raises."""
        ...

    async def close(self) -> None:
        """Write what is pending and disconnect; closing twice is harmless."""
        ...

    async def reserve(self, reservation: Reservation, now: float) -> Denial | Sequence[BudgetLevel]:
        """Atomically check and hold every charge of ``reservation``, or none.

        Returns the :class:`Denial` of the first check that failed (nothing
        held), or, per budget of the reservation, the (tokens, cost) it holds
        used + reserved after this hold.
        """
        ...

    async def settle(self, reservation: Reservation, tokens: int, cost: int, now: float) -> None:
        """Replace the holds of ``reservation`` with what the call really used (``tokens``, ``cost`` units)."""
        ...

    async def release(self, reservation: Reservation, now: float) -> None:
        """Drop the holds of ``reservation`` (its request still counts against rpm)."""
        ...

    async def snapshot(self, windows: Sequence[str], budgets: Sequence[str], now: float) -> Snapshot:
        """The current state of the named window and budget counters (for explanations and tests)."""
        ...
