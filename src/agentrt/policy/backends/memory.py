"""The ``memory`` backend: counters in this process, for one process (and for tests).

Atomic because nothing in ``reserve`` awaits: on one event loop no other task
runs between the check and the hold. Not shared with other processes and lost
at exit; use ``sqlite`` or ``redis`` for that.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from agentrt.errors import RuntimeStateError
from agentrt.policy.backends.base import BudgetCounter, Snapshot, WindowCounter
from agentrt.policy.limits import WINDOW_SECONDS, window_retry_after
from agentrt.policy.reservation import BudgetLevel, Denial, Reservation

__all__ = ["MemoryBackend"]

_SWEEP_EVERY = 60.0  # seconds of the engine's clock between sweeps of idle counters


class _Entry:
    """One admitted request in a window; ``live`` turns false when it leaves the window."""

    __slots__ = ("live", "tokens", "ts")

    def __init__(self, ts: float, tokens: int) -> None:
        self.ts = ts
        self.tokens = tokens
        self.live = True


class _Window:
    __slots__ = ("entries", "tokens")

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.tokens = 0

    def prune(self, cutoff: float) -> None:
        entries = self.entries
        while entries and entries[0].ts <= cutoff:
            entry = entries.popleft()
            entry.live = False
            self.tokens -= entry.tokens


class _Budget:
    __slots__ = ("holds", "keep_until", "next_expiry", "reserved_cost", "reserved_tokens", "used_cost", "used_tokens")

    def __init__(self, keep_until: float | None) -> None:
        self.used_tokens = 0
        self.used_cost = 0
        self.reserved_tokens = 0
        self.reserved_cost = 0
        self.holds: dict[str, tuple[int, int, float]] = {}
        self.next_expiry = math.inf
        self.keep_until = keep_until

    def expire(self, now: float) -> None:
        """Drop the holds whose reservation lapsed (``expires_at <= now``)."""
        if now < self.next_expiry:
            return
        next_expiry = math.inf
        for rid, (tokens, cost, expires_at) in list(self.holds.items()):
            if expires_at <= now:
                del self.holds[rid]
                self.reserved_tokens -= tokens
                self.reserved_cost -= cost
            elif expires_at < next_expiry:
                next_expiry = expires_at
        self.next_expiry = next_expiry

    def drop_hold(self, rid: str) -> None:
        hold = self.holds.pop(rid, None)
        if hold is not None:
            self.reserved_tokens -= hold[0]
            self.reserved_cost -= hold[1]


class MemoryBackend:
    """Counters in a dict of this process. ``reserve`` is atomic: it never awaits."""

    name = "memory"

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}
        self._budgets: dict[str, _Budget] = {}
        self._next_sweep = -math.inf
        self._state = "new"

    async def open(self) -> None:
        if self._state != "new":
            raise RuntimeStateError(f"the memory policy backend is already {self._state}: open it once")
        self._state = "open"

    async def close(self) -> None:
        self._state = "closed"

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeStateError(f"the memory policy backend is {self._state}: open it first, and not after close")

    async def reserve(self, reservation: Reservation, now: float) -> Denial | Sequence[BudgetLevel]:
        self._check_open()
        if now >= self._next_sweep:
            self._sweep(now)
        tokens = reservation.tokens
        cost = reservation.cost
        cutoff = now - WINDOW_SECONDS
        windows = []
        for index, charge in enumerate(reservation.windows):
            window = self._windows.get(charge.key)
            if window is None:
                window = self._windows[charge.key] = _Window()
            else:
                window.prune(cutoff)
            rpm, tpm = charge.rpm, charge.tpm
            if (rpm is not None and len(window.entries) + 1 > rpm) or (
                tpm is not None and window.tokens + tokens > tpm
            ):
                live = [(entry.ts, entry.tokens) for entry in window.entries]
                _, retry_after = window_retry_after(live, now, rpm, tpm, tokens)
                if rpm is not None and len(window.entries) + 1 > rpm:
                    return Denial("rpm", index, retry_after, len(window.entries))
                return Denial("tpm", index, retry_after, window.tokens)
            windows.append(window)
        budgets = []
        for index, budget_charge in enumerate(reservation.budgets):
            budget = self._budgets.get(budget_charge.key)
            if budget is None:
                budget = self._budgets[budget_charge.key] = _Budget(budget_charge.keep_until)
            else:
                budget.expire(now)
            max_tokens, max_cost = budget_charge.max_tokens, budget_charge.max_cost
            if max_tokens is not None and budget.used_tokens + budget.reserved_tokens + tokens > max_tokens:
                return Denial("tokens", index, None, budget.used_tokens, budget.reserved_tokens)
            if max_cost is not None and budget.used_cost + budget.reserved_cost + cost > max_cost:
                return Denial("cost", index, None, budget.used_cost, budget.reserved_cost)
            budgets.append(budget)
        # Every check passed and nothing awaited since: hold them all.
        entries = []
        for window in windows:
            entry = _Entry(now, tokens)
            window.entries.append(entry)
            window.tokens += tokens
            entries.append(entry)
        reservation.handle = entries
        if not budgets:
            return ()
        rid, expires_at = reservation.id, reservation.expires_at
        levels = []
        for budget in budgets:
            budget.holds[rid] = (tokens, cost, expires_at)
            budget.reserved_tokens += tokens
            budget.reserved_cost += cost
            if expires_at < budget.next_expiry:
                budget.next_expiry = expires_at
            levels.append((budget.used_tokens + budget.reserved_tokens, budget.used_cost + budget.reserved_cost))
        return levels

    async def settle(self, reservation: Reservation, tokens: int, cost: int, now: float) -> None:
        self._check_open()
        self._replace(reservation, tokens)
        for charge in reservation.budgets:
            budget = self._budgets.get(charge.key)
            if budget is None:  # swept after its period; a late settle still lands
                budget = self._budgets[charge.key] = _Budget(charge.keep_until)
            budget.drop_hold(reservation.id)
            budget.used_tokens += tokens
            budget.used_cost += cost

    async def release(self, reservation: Reservation, now: float) -> None:
        self._check_open()
        self._replace(reservation, 0)
        for charge in reservation.budgets:
            budget = self._budgets.get(charge.key)
            if budget is not None:
                budget.drop_hold(reservation.id)

    async def cancel(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation no call used, as if it had never been made: its request leaves the windows
        (unlike ``release``, after which it still counts against rpm) and its budget holds go."""
        self._check_open()
        entries = reservation.handle
        if isinstance(entries, list):
            for entry, charge in zip(entries, reservation.windows, strict=True):
                window = self._windows.get(charge.key)
                if entry.live and window is not None and entry in window.entries:
                    window.entries.remove(entry)
                    window.tokens -= entry.tokens
                entry.live = False
            reservation.handle = None
        for budget_charge in reservation.budgets:
            budget = self._budgets.get(budget_charge.key)
            if budget is not None:
                budget.drop_hold(reservation.id)

    def _replace(self, reservation: Reservation, tokens: int) -> None:
        entries = reservation.handle
        if not isinstance(entries, list):
            return
        for entry, charge in zip(entries, reservation.windows, strict=True):
            if entry.live:  # an entry that left the window no longer counts: nothing to correct
                window = self._windows.get(charge.key)
                if window is not None:
                    window.tokens += tokens - entry.tokens
                entry.tokens = tokens
        reservation.handle = None

    async def snapshot(self, windows: Sequence[str], budgets: Sequence[str], now: float) -> Snapshot:
        self._check_open()
        cutoff = now - WINDOW_SECONDS
        window_counters = {}
        for key in windows:
            window = self._windows.get(key)
            if window is None:
                window_counters[key] = WindowCounter()
                continue
            live = tuple((entry.ts, entry.tokens) for entry in window.entries if entry.ts > cutoff)
            window_counters[key] = WindowCounter(len(live), sum(tokens for _, tokens in live), live)
        budget_counters = {}
        for key in budgets:
            budget = self._budgets.get(key)
            if budget is None:
                budget_counters[key] = BudgetCounter()
                continue
            budget.expire(now)
            budget_counters[key] = BudgetCounter(
                budget.used_tokens, budget.used_cost, budget.reserved_tokens, budget.reserved_cost
            )
        return Snapshot(window_counters, budget_counters)

    def _sweep(self, now: float) -> None:
        """Forget windows with nothing in them and budget counters whose period is long over."""
        self._next_sweep = now + _SWEEP_EVERY
        cutoff = now - WINDOW_SECONDS
        for key, window in list(self._windows.items()):
            window.prune(cutoff)
            if not window.entries:
                del self._windows[key]
        for key, budget in list(self._budgets.items()):
            budget.expire(now)
            if budget.keep_until is not None and budget.keep_until < now and not budget.holds:
                del self._budgets[key]
