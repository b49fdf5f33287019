"""The ``sqlite`` backend: counters in the store's SQLite database; survives restarts, shared by processes.

Every write is a ``BEGIN IMMEDIATE`` transaction of the store, which takes
SQLite's write lock up front: writers serialise across every process that
opens the database, so check-and-hold is atomic among all of them. The work
of a batch runs as one function on the store's worker thread (one hop for all
its statements), and concurrent calls share a batch (see ``_batching``), so a
transaction's fixed cost is paid once for many calls.

Tables (component ``policy`` of the store's migrations):

- ``agentrt_policy_window``: one row per request in a window (key, rid, ts, tokens);
- ``agentrt_policy_window_total``: the running count and token sum of each window;
- ``agentrt_policy_budget``: used and reserved totals of each budget counter;
- ``agentrt_policy_hold``: one row per live reservation on a budget counter.

Entries that leave a window and holds that lapse are removed when their
counter is next touched, and idle counters by a sweep every minute.

Each call is also journaled in ``agentrt_usage_pending`` in the same
transaction as its counters, until its ledger row is written (after the
call's audit rows): at start the backend writes the ledger and allow rows
that a crashed process lost (see ``_recovery``), so the ledger, the audit
trail and the counters agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog

from agentrt.errors import ConfigError, ConfigProblem, RuntimeStateError
from agentrt.policy.backends._batching import Batcher, Op
from agentrt.policy.backends._recovery import Recovered, process_owner, recover
from agentrt.policy.backends.base import BudgetCounter, Snapshot, WindowCounter
from agentrt.policy.limits import WINDOW_SECONDS, window_retry_after
from agentrt.policy.reservation import BudgetLevel, Denial, Reservation
from agentrt.store.ledger import PENDING_TABLE

if TYPE_CHECKING:
    from agentrt.store import Store

__all__ = ["MIGRATIONS", "SqliteBackend"]

MIGRATIONS = [
    """
    CREATE TABLE agentrt_policy_window (
        key TEXT NOT NULL,
        rid TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        tokens BIGINT NOT NULL,
        PRIMARY KEY (key, rid)
    );
    CREATE INDEX agentrt_policy_window_by_time ON agentrt_policy_window (key, ts);
    CREATE TABLE agentrt_policy_window_total (
        key TEXT PRIMARY KEY,
        requests BIGINT NOT NULL,
        tokens BIGINT NOT NULL,
        newest DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE agentrt_policy_budget (
        key TEXT PRIMARY KEY,
        used_tokens BIGINT NOT NULL,
        used_cost BIGINT NOT NULL,
        reserved_tokens BIGINT NOT NULL,
        reserved_cost BIGINT NOT NULL,
        keep_until DOUBLE PRECISION
    );
    CREATE TABLE agentrt_policy_hold (
        key TEXT NOT NULL,
        rid TEXT NOT NULL,
        tokens BIGINT NOT NULL,
        cost BIGINT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (key, rid)
    );
    CREATE INDEX agentrt_policy_hold_by_expiry ON agentrt_policy_hold (key, expires_at)
    """
]
"""The policy's tables, as store migrations (append-only)."""

_SWEEP_EVERY = 60.0
_log = structlog.get_logger("agentrt.policy")
_WORK = "policy counters: check, hold and settle"  # how the store's errors name this work


class SqliteBackend:
    """Counters in the store's SQLite database (``policies.backend: sqlite``).

    The store must be SQLite: with a PostgreSQL store, ``open`` raises a
    ``ConfigError`` (use ``redis://`` to share counters between machines).
    The store is opened and closed by its owner, not by this backend.
    """

    name = "sqlite"

    def __init__(self, store: Store) -> None:
        self._store = store
        self._batcher: Batcher[Any] = Batcher("sqlite", self._write, _undo)
        self._next_sweep = float("-inf")
        self._state = "new"
        self.owner = process_owner()
        """This backend's tag on its journal rows (host, process id, nonce)."""
        self.recovered = Recovered()
        """What the start wrote for the calls of crashed processes."""

    async def open(self) -> None:
        if self._state != "new":
            raise RuntimeStateError(f"the sqlite policy backend is already {self._state}: open it once")
        if self._store.dialect != "sqlite":
            raise ConfigError(
                [
                    ConfigProblem(
                        "policies.backend",
                        f"the sqlite policy backend keeps its counters in the store, but store.url is "
                        f"{self._store.dialect} ({self._store.url_for_logs}): set policies.backend to a redis:// "
                        "URL to share counters between machines, or use a sqlite:/// store",
                    )
                ]
            )
        if not callable(getattr(self._store, "call", None)):
            raise RuntimeStateError(
                f"the sqlite policy backend needs agentrt's SQLite store (got {type(self._store).__name__}); "
                "open the store with agentrt.store.open_store"
            )
        from agentrt.store.audit import AUDIT_MIGRATIONS
        from agentrt.store.ledger import USAGE_MIGRATIONS

        await self._store.migrate("policy", MIGRATIONS)
        await self._store.migrate("usage", USAGE_MIGRATIONS)  # the journal is the ledger's table
        await self._store.migrate("audit", AUDIT_MIGRATIONS)
        store: Any = self._store
        async with self._store.transaction():
            self.recovered = await store.call(_recover, "recover the calls of crashed processes", self.owner)
        if self.recovered.calls:
            _log.warning(
                "policy_calls_recovered",
                settled=self.recovered.settled,
                in_flight=self.recovered.in_flight,
                audit_rows=self.recovered.audit_rows,
                outcome="recovered",
                reason="a process died before writing these calls' ledger rows; the counters had charged them",
            )
        self._state = "open"

    async def close(self) -> None:
        if self._state == "open":
            self._state = "closed"
            await self._batcher.close()
        self._state = "closed"

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeStateError(f"the sqlite policy backend is {self._state}: open it first, and not after close")

    async def reserve(self, reservation: Reservation, now: float) -> Denial | Sequence[BudgetLevel]:
        self._check_open()
        result: Denial | Sequence[BudgetLevel] = await self._batcher.submit("reserve", reservation, now)
        return result

    async def settle(self, reservation: Reservation, tokens: int, cost: int, now: float) -> None:
        self._check_open()
        self._batcher.submit_nowait("settle", reservation, tokens, cost)

    async def release(self, reservation: Reservation, now: float) -> None:
        self._check_open()
        self._batcher.submit_nowait("release", reservation)

    async def cancel(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation no call used: its request leaves the windows, its holds and journal row go."""
        self._check_open()
        self._batcher.submit_nowait("cancel", reservation)

    async def snapshot(self, windows: Sequence[str], budgets: Sequence[str], now: float) -> Snapshot:
        self._check_open()
        result: Snapshot = await self._batcher.submit("snapshot", tuple(windows), tuple(budgets), now)
        return result

    async def flush(self) -> None:
        """Wait until every settle and release queued so far is committed."""
        await self._batcher.flush()

    async def _write(self, ops: Sequence[Op]) -> Sequence[Any]:
        sweep_at = None
        now = max((op.args[-1] for op in ops if op.kind in ("reserve", "snapshot")), default=None)
        if now is not None and now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_EVERY
            sweep_at = now
        store: Any = self._store
        async with self._store.transaction():
            results: Sequence[Any] = await store.call(_apply, _WORK, ops, sweep_at, self.owner)
        return results


def _undo(op: Op, result: Any) -> Op | None:
    """A reservation held for a caller that was cancelled while waiting: release it."""
    if op.kind == "reserve" and not isinstance(result, Denial | BaseException):
        return Op("release", (op.args[0],))
    return None


# --- run on the store's worker thread, inside its BEGIN IMMEDIATE transaction ------------------


def _apply(conn: sqlite3.Connection, _sql: str, ops: Sequence[Op], sweep_at: float | None, owner: str) -> list[Any]:
    if sweep_at is not None:
        _sweep(conn, sweep_at)
    results: list[Any] = []
    for op in ops:
        if op.kind == "reserve":
            result = _reserve(conn, *op.args)
            if not isinstance(result, Denial) and op.args[0].journaled:
                _journal_held(conn, op.args[0], op.args[1], owner)
            results.append(result)
        elif op.kind == "settle":
            reservation, tokens, cost = op.args
            _replace(conn, reservation, tokens, cost, settle=True)
            if reservation.operation == "tool":  # no ledger row will clear a tool call's journal row
                conn.execute(f"DELETE FROM {PENDING_TABLE} WHERE rid = ?", (reservation.id,))
            else:
                _journal_settled(conn, reservation, tokens, cost)
            results.append(None)
        elif op.kind == "release":
            _replace(conn, op.args[0], 0, 0, settle=False)
            conn.execute(f"DELETE FROM {PENDING_TABLE} WHERE rid = ?", (op.args[0].id,))
            results.append(None)
        elif op.kind == "cancel":
            _cancel(conn, op.args[0])
            conn.execute(f"DELETE FROM {PENDING_TABLE} WHERE rid = ?", (op.args[0].id,))
            results.append(None)
        elif op.kind == "snapshot":
            results.append(_snapshot(conn, *op.args))
        else:
            raise ValueError(f"unknown policy operation {op.kind!r}")
    return results


def _recover(conn: sqlite3.Connection, _sql: str, owner: str) -> Recovered:
    return recover(conn, owner)


def _journal_held(conn: sqlite3.Connection, reservation: Reservation, now: float, owner: str) -> None:
    principal = reservation.principal
    conn.execute(
        f"INSERT INTO {PENDING_TABLE} (rid, request_id, owner, ts, state, user_name, tenant, api_key, model, "
        "provider, operation, input_tokens, output_tokens, cost) "
        "VALUES (?, ?, ?, ?, 'held', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            reservation.id,
            reservation.request_id,
            owner,
            now,
            None if principal is None else principal.user,
            None if principal is None else principal.tenant,
            None if principal is None else principal.api_key,
            reservation.model,
            reservation.provider,
            reservation.operation,
            reservation.input_tokens,
            reservation.tokens - reservation.input_tokens,
            reservation.cost,
        ),
    )


def _journal_settled(conn: sqlite3.Connection, reservation: Reservation, tokens: int, cost: int) -> None:
    usage = reservation.usage
    input_tokens, output_tokens = (tokens, 0) if usage is None else (usage.input_tokens, usage.output_tokens)
    conn.execute(
        f"UPDATE {PENDING_TABLE} SET state = 'settled', input_tokens = ?, output_tokens = ?, cost = ? WHERE rid = ?",
        (input_tokens, output_tokens, cost, reservation.id),
    )


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _window_states(conn: sqlite3.Connection, keys: Sequence[str], cutoff: float) -> dict[str, tuple[int, int]]:
    """(requests, tokens) of each window that has any, after dropping the entries that left it."""
    rows = conn.execute(
        "SELECT t.key, t.requests, t.tokens, EXISTS (SELECT 1 FROM agentrt_policy_window w "
        "WHERE w.key = t.key AND w.ts <= ?) FROM agentrt_policy_window_total t "
        f"WHERE t.key IN ({_marks(len(keys))})",
        (cutoff, *keys),
    ).fetchall()
    states = {}
    for key, requests, tokens, stale in rows:
        if stale:  # some entries left the window: drop them and correct the totals
            gone, gone_tokens = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(tokens), 0) FROM agentrt_policy_window WHERE key = ? AND ts <= ?",
                (key, cutoff),
            ).fetchone()
            conn.execute("DELETE FROM agentrt_policy_window WHERE key = ? AND ts <= ?", (key, cutoff))
            requests, tokens = requests - gone, tokens - gone_tokens
            conn.execute(
                "UPDATE agentrt_policy_window_total SET requests = ?, tokens = ? WHERE key = ?", (requests, tokens, key)
            )
        states[key] = (requests, tokens)
    return states


def _window_entries(conn: sqlite3.Connection, key: str, cutoff: float) -> list[tuple[float, int]]:
    rows = conn.execute(
        "SELECT ts, tokens FROM agentrt_policy_window WHERE key = ? AND ts > ? ORDER BY ts, rid", (key, cutoff)
    ).fetchall()
    return [(float(ts), int(tokens)) for ts, tokens in rows]


def _budget_states(conn: sqlite3.Connection, keys: Sequence[str], now: float) -> dict[str, tuple[int, int, int, int]]:
    """(used tokens, used cost, reserved tokens, reserved cost) of each counter that exists, lapsed holds dropped."""
    rows = conn.execute(
        "SELECT b.key, b.used_tokens, b.used_cost, b.reserved_tokens, b.reserved_cost, EXISTS (SELECT 1 FROM "
        "agentrt_policy_hold h WHERE h.key = b.key AND h.expires_at <= ?) FROM agentrt_policy_budget b "
        f"WHERE b.key IN ({_marks(len(keys))})",
        (now, *keys),
    ).fetchall()
    states = {}
    for key, used_tokens, used_cost, reserved_tokens, reserved_cost, stale in rows:
        if stale:  # some holds lapsed (their process died): drop them and correct the totals
            lapsed_tokens, lapsed_cost = conn.execute(
                "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost), 0) FROM agentrt_policy_hold "
                "WHERE key = ? AND expires_at <= ?",
                (key, now),
            ).fetchone()
            conn.execute("DELETE FROM agentrt_policy_hold WHERE key = ? AND expires_at <= ?", (key, now))
            reserved_tokens, reserved_cost = reserved_tokens - lapsed_tokens, reserved_cost - lapsed_cost
            conn.execute(
                "UPDATE agentrt_policy_budget SET reserved_tokens = ?, reserved_cost = ? WHERE key = ?",
                (reserved_tokens, reserved_cost, key),
            )
        states[key] = (used_tokens, used_cost, reserved_tokens, reserved_cost)
    return states


def _reserve(conn: sqlite3.Connection, reservation: Reservation, now: float) -> Denial | list[BudgetLevel]:
    tokens, cost = reservation.tokens, reservation.cost
    cutoff = now - WINDOW_SECONDS
    windows = (
        _window_states(conn, [window.key for window in reservation.windows], cutoff) if reservation.windows else {}
    )
    for index, window in enumerate(reservation.windows):
        requests, held = windows.get(window.key, (0, 0))
        over_rpm = window.rpm is not None and requests + 1 > window.rpm
        if over_rpm or (window.tpm is not None and held + tokens > window.tpm):
            entries = _window_entries(conn, window.key, cutoff)
            _, retry_after = window_retry_after(entries, now, window.rpm, window.tpm, tokens)
            if over_rpm:
                return Denial("rpm", index, retry_after, requests)
            return Denial("tpm", index, retry_after, held)
    levels: list[BudgetLevel] = []
    budgets = _budget_states(conn, [budget.key for budget in reservation.budgets], now) if reservation.budgets else {}
    for index, budget in enumerate(reservation.budgets):
        used_tokens, used_cost, reserved_tokens, reserved_cost = budgets.get(budget.key, (0, 0, 0, 0))
        if budget.max_tokens is not None and used_tokens + reserved_tokens + tokens > budget.max_tokens:
            return Denial("tokens", index, None, used_tokens, reserved_tokens)
        if budget.max_cost is not None and used_cost + reserved_cost + cost > budget.max_cost:
            return Denial("cost", index, None, used_cost, reserved_cost)
        levels.append((used_tokens + reserved_tokens + tokens, used_cost + reserved_cost + cost))
    rid = reservation.id
    if reservation.windows:
        conn.executemany(
            "INSERT INTO agentrt_policy_window (key, rid, ts, tokens) VALUES (?, ?, ?, ?)",
            [(window.key, rid, now, tokens) for window in reservation.windows],
        )
        conn.executemany(
            "INSERT INTO agentrt_policy_window_total (key, requests, tokens, newest) VALUES (?, 1, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET requests = requests + 1, tokens = tokens + excluded.tokens, "
            "newest = MAX(newest, excluded.newest)",
            [(window.key, tokens, now) for window in reservation.windows],
        )
    if reservation.budgets:
        conn.executemany(
            "INSERT INTO agentrt_policy_hold (key, rid, tokens, cost, expires_at) VALUES (?, ?, ?, ?, ?)",
            [(budget.key, rid, tokens, cost, reservation.expires_at) for budget in reservation.budgets],
        )
        conn.executemany(
            "INSERT INTO agentrt_policy_budget"
            " (key, used_tokens, used_cost, reserved_tokens, reserved_cost, keep_until) VALUES (?, 0, 0, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET"
            " reserved_tokens = reserved_tokens + excluded.reserved_tokens,"
            " reserved_cost = reserved_cost + excluded.reserved_cost",
            [(budget.key, tokens, cost, budget.keep_until) for budget in reservation.budgets],
        )
    return levels


def _cancel(conn: sqlite3.Connection, reservation: Reservation) -> None:
    """Release the holds, then take the request out of the windows that still have it (rpm counts it no more)."""
    _replace(conn, reservation, 0, 0, settle=False)  # its entries now hold 0 tokens
    if reservation.windows:
        keys = [window.key for window in reservation.windows]
        gone = conn.execute(
            f"DELETE FROM agentrt_policy_window WHERE rid = ? AND key IN ({_marks(len(keys))}) RETURNING key",
            (reservation.id, *keys),
        ).fetchall()
        conn.executemany(
            "UPDATE agentrt_policy_window_total SET requests = requests - 1 WHERE key = ?", [(row[0],) for row in gone]
        )


def _replace(conn: sqlite3.Connection, reservation: Reservation, tokens: int, cost: int, *, settle: bool) -> None:
    """Settle (actual usage replaces the holds) or release (the holds go; tpm entries drop to 0 tokens).

    An entry still holds what ``reserve`` wrote (settle and release come once), so the
    corrections are known without reading the rows first.
    """
    rid = reservation.id
    if reservation.windows:
        keys = [window.key for window in reservation.windows]
        marks = _marks(len(keys))
        conn.execute(
            f"UPDATE agentrt_policy_window SET tokens = ? WHERE rid = ? AND key IN ({marks})", (tokens, rid, *keys)
        )
        delta = tokens - reservation.tokens
        if delta:  # only the windows that still hold the entry: one that left counts no more
            conn.execute(
                "UPDATE agentrt_policy_window_total SET tokens = tokens + ? WHERE key IN "
                f"(SELECT key FROM agentrt_policy_window WHERE rid = ? AND key IN ({marks}))",
                (delta, rid, *keys),
            )
    if reservation.budgets:
        keys = [budget.key for budget in reservation.budgets]
        held = {
            row[0]
            for row in conn.execute(
                f"DELETE FROM agentrt_policy_hold WHERE rid = ? AND key IN ({_marks(len(keys))}) RETURNING key",
                (rid, *keys),
            ).fetchall()
        }
        used_tokens, used_cost = (tokens, cost) if settle else (0, 0)
        rows = []
        for budget in reservation.budgets:
            freed_tokens, freed_cost = (reservation.tokens, reservation.cost) if budget.key in held else (0, 0)
            if freed_tokens or freed_cost or used_tokens or used_cost:
                rows.append((budget.key, used_tokens, used_cost, budget.keep_until, freed_tokens, freed_cost))
        if rows:
            conn.executemany(
                "INSERT INTO agentrt_policy_budget (key, used_tokens, used_cost, reserved_tokens, reserved_cost, "
                "keep_until) VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (key) DO UPDATE SET "
                "used_tokens = used_tokens + excluded.used_tokens, used_cost = used_cost + excluded.used_cost, "
                "reserved_tokens = reserved_tokens - ?, reserved_cost = reserved_cost - ?",
                rows,
            )


def _snapshot(conn: sqlite3.Connection, windows: Sequence[str], budgets: Sequence[str], now: float) -> Snapshot:
    cutoff = now - WINDOW_SECONDS
    window_counters = {}
    for key in windows:
        entries = tuple(_window_entries(conn, key, cutoff))
        window_counters[key] = WindowCounter(len(entries), sum(tokens for _, tokens in entries), entries)
    states = _budget_states(conn, budgets, now) if budgets else {}
    budget_counters = {key: BudgetCounter(*states.get(key, (0, 0, 0, 0))) for key in budgets}
    return Snapshot(window_counters, budget_counters)


def _sweep(conn: sqlite3.Connection, now: float) -> None:
    """Drop windows whose newest entry left them, lapsed holds, and counters of periods long over."""
    cutoff = now - WINDOW_SECONDS
    conn.execute(
        "DELETE FROM agentrt_policy_window WHERE key IN "
        "(SELECT key FROM agentrt_policy_window_total WHERE newest <= ?)",
        (cutoff,),
    )
    conn.execute("DELETE FROM agentrt_policy_window_total WHERE newest <= ?", (cutoff,))
    conn.execute(
        "UPDATE agentrt_policy_budget SET "
        "reserved_tokens = reserved_tokens - (SELECT COALESCE(SUM(h.tokens), 0) FROM agentrt_policy_hold h "
        "WHERE h.key = agentrt_policy_budget.key AND h.expires_at <= ?), "
        "reserved_cost = reserved_cost - (SELECT COALESCE(SUM(h.cost), 0) FROM agentrt_policy_hold h "
        "WHERE h.key = agentrt_policy_budget.key AND h.expires_at <= ?) "
        "WHERE key IN (SELECT key FROM agentrt_policy_hold WHERE expires_at <= ?)",
        (now, now, now),
    )
    conn.execute("DELETE FROM agentrt_policy_hold WHERE expires_at <= ?", (now,))
    conn.execute(
        "DELETE FROM agentrt_policy_budget WHERE keep_until IS NOT NULL AND keep_until < ? AND reserved_tokens = 0 "
        "AND reserved_cost = 0",
        (now,),
    )
