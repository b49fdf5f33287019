"""What one admitted call holds until it settles: its charges on windows and budgets.

A :class:`Reservation` is built by the engine, handed to a backend to check and
hold atomically, returned to the caller by ``admit``, and handed back to
``settle`` or ``release``. It carries everything a backend needs to undo or
replace its charges, so a reload that changes the limits in between cannot
make a settle touch the wrong counters.

Costs are held as integer *cost units* (nano-USD, :data:`COST_UNITS_PER_USD`):
integers add and subtract exactly in every backend (Python, SQLite, Redis's
``HINCRBY``), so a budget's used + reserved never drifts past its maximum by a
rounding error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from agentrt.calls.principal import Principal
from agentrt.models import Price
from agentrt.types import Usage

__all__ = [
    "COST_UNITS_PER_USD",
    "BudgetCharge",
    "BudgetLevel",
    "Denial",
    "Reservation",
    "WindowCharge",
    "cost_units_ceil",
    "cost_units_floor",
    "cost_units_nearest",
    "usd",
]

COST_UNITS_PER_USD = 1_000_000_000
"""Budgets count cost in nano-USD. Exact up to ~9 million USD in Redis's Lua (doubles)."""

# Float products such as 0.15 * 1000 come out a hair above the true value; without this
# slack a reservation would round up one unit too far, and a maximum one unit too low.
_SLACK = 1e-6


def cost_units_ceil(cost: float) -> int:
    """USD as cost units, rounded up: what a reservation holds (never less than the worst case)."""
    return max(math.ceil(cost * COST_UNITS_PER_USD - _SLACK), 0)


def cost_units_floor(cost: float) -> int:
    """USD as cost units, rounded down: a budget's maximum (never more than configured)."""
    return max(math.floor(cost * COST_UNITS_PER_USD + _SLACK), 0)


def cost_units_nearest(cost: float) -> int:
    """USD as cost units, rounded to the nearest: what a settled call really cost."""
    return max(round(cost * COST_UNITS_PER_USD), 0)


def usd(units: int) -> float:
    """Cost units back to USD, for messages and explanations."""
    return units / COST_UNITS_PER_USD


@dataclass(slots=True, frozen=True)
class WindowCharge:
    """One request on one sliding window: counts 1 against ``rpm`` and its tokens against ``tpm``.

    ``key`` names the window (the limit's stable id and the scope key);
    ``rpm``/``tpm`` are the maxima to check, ``None`` when the limit has none.
    """

    key: str
    rpm: int | None
    tpm: int | None


@dataclass(slots=True, frozen=True)
class BudgetCharge:
    """A hold of the reservation's tokens and cost units on one budget counter for one period.

    ``key`` names the counter (budget id, scope key, period start). ``keep_until``
    is when the counter may be dropped (after its period ended and any late
    settle landed); ``None`` for a ``total`` budget, which never resets.
    """

    key: str
    max_tokens: int | None
    max_cost: int | None
    keep_until: float | None


@dataclass(slots=True, frozen=True)
class Denial:
    """Why a backend refused a reservation: the first check that failed.

    ``kind`` is ``rpm``/``tpm`` (``index`` into the windows) or ``tokens``/``cost``
    (``index`` into the budgets). ``retry_after`` (windows only) is the seconds
    until the request would fit, ``None`` when it never can (more tokens than
    the limit). ``used``/``reserved`` are what the counter held at that moment.
    """

    kind: Literal["rpm", "tpm", "tokens", "cost"]
    index: int
    retry_after: float | None = None
    used: int = 0
    reserved: int = 0


BudgetLevel: TypeAlias = tuple[int, int]
"""(tokens, cost units) a budget counter holds, used plus reserved, right after a reservation."""


@dataclass(slots=True, eq=False)
class Reservation:
    """What ``admit`` returns: hand it to ``settle`` (the call succeeded) or ``release`` (it failed).

    ``id`` is unique across processes; ``created`` is the admission time and
    ``expires_at`` when the budget holds lapse if the call never settles (epoch
    seconds). ``tokens`` and ``cost`` (units) are the worst case held on every
    window and budget; ``price`` prices a settle that comes without a cost.
    Settling or releasing twice is harmless: only the first one counts.
    """

    id: str
    created: float
    expires_at: float
    tokens: int
    cost: int
    windows: tuple[WindowCharge, ...]
    budgets: tuple[BudgetCharge, ...]
    price: Price | None = None
    model: str = ""
    output_cap: int | None = None
    """The output tokens this reservation holds, when a token limit or a budget counts them: the
    pipeline sends it as the call's maximum output so the provider cannot produce more."""
    request_id: str | None = None
    """The call's request id (the ledger's and the audit trail's), shared by the holds of its fallbacks."""
    principal: Principal | None = None
    operation: str = ""
    provider: str = ""
    input_tokens: int = 0
    """Who, how, where and the input estimate: what a journal needs to write the call's ledger row."""
    usage: Usage | None = None
    """What the call used, set by ``settle`` before the backend writes it."""
    state: Literal["held", "settled", "released"] = field(default="held")
    handle: object = field(default=None, repr=False)
    """Whatever the backend that holds the reservation keeps with it (the memory backend: its log entries)."""
    journaled: bool = True
    """Whether a backend with a journal (``sqlite``) journals it for crash recovery: a hold that is not a
    call of its own (a deployment's rpm/tpm, beside the call's policy hold) is not, so no call is recovered twice."""
