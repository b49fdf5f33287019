"""The ``redis`` backend: counters in Redis, shared exactly by every process and machine that uses it.

Check-and-hold runs in a Lua script (``_lua``), which Redis runs atomically:
no other client's command runs between the check and the hold. The script is
loaded once (``SCRIPT LOAD``) and called by its SHA1 (``EVALSHA``); after a
``SCRIPT FLUSH`` or a failover to a server without it, the ``NOSCRIPT``
reply makes the backend load it again and retry. One call of the script
carries every operation queued at the time (see ``_batching``).

Every key starts with ``key_prefix`` (``policies.key_prefix``), so several
deployments can share one Redis. Windows expire 65 s after their last request
and budget counters after their period (plus a margin for late settles);
``total`` budgets never expire.

Settles and releases are queued and sent with the next batch: the next
``admit`` of this process, or the same event-loop turn, whichever comes
first; so a call costs about one round trip. ``close`` sends what is queued.

The clock is the engine's (this process's); keep the machines' clocks in sync
(NTP): a skew of s seconds moves a window's edge by s seconds.

Counters in Redis outlive a process that is killed; its ledger and audit rows
still queued do not: a SIGKILL loses at most the last ``flush_interval``
(0.5 s) of them, on a SQLite or a PostgreSQL store alike, while the counters
keep what those calls used (a settle not sent yet leaves its hold until
``reservation_ttl``). A call may lose its ledger row and keep its audit rows,
never the reverse (the ledger writes after the audit trail). Only the
``sqlite`` backend journals calls for the next start to recover.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentrt.config._paths import mask_url
from agentrt.errors import PolicyError, RuntimeStateError
from agentrt.policy.backends import _lua
from agentrt.policy.backends._batching import Batcher, Op
from agentrt.policy.backends.base import BudgetCounter, Snapshot, WindowCounter
from agentrt.policy.limits import WINDOW_SECONDS
from agentrt.policy.reservation import BudgetLevel, Denial, Reservation

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisBackend"]

_DENIALS = ("rpm", "tpm", "tokens", "cost")
_MAX_BATCH = 256  # operations per script call: a longer script would hold up Redis's other clients


class RedisBackend:
    """Counters in Redis at ``url`` (``redis://host:6379/0``, ``rediss://`` for TLS), keys under ``key_prefix``.

    Pass ``client`` to use a ``redis.asyncio.Redis`` you manage (it is then
    not closed by this backend).
    """

    name = "redis"

    def __init__(self, url: str, *, key_prefix: str = "agentrt:policy:", client: Redis | None = None) -> None:
        self.url_for_logs = mask_url(url)
        self._url = url
        self.key_prefix = key_prefix
        self._client = client
        self._owns_client = client is None
        self._sha = hashlib.sha1(_lua.BATCH.encode()).hexdigest()
        self._batcher: Batcher[Any] = Batcher("redis", self._write, _undo)
        self._state = "new"

    async def open(self) -> None:
        if self._state != "new":
            raise RuntimeStateError(f"the redis policy backend is already {self._state}: open it once")
        if self._client is None:
            from redis.asyncio import Redis

            self._client = Redis.from_url(self._url, decode_responses=True)
        try:
            await self._load_script()
        except Exception as err:
            await self._close_client()
            raise _unreachable(self.url_for_logs, err) from err
        self._state = "open"

    async def close(self) -> None:
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"
        try:
            await self._batcher.close()
        finally:
            await self._close_client()

    async def _close_client(self) -> None:
        client = self._client
        if client is not None and self._owns_client:
            self._client = None
            await client.aclose()

    def _check_open(self) -> None:
        if self._state != "open":
            raise RuntimeStateError(f"the redis policy backend is {self._state}: open it first, and not after close")

    # --- the protocol ------------------------------------------------------------------

    async def reserve(self, reservation: Reservation, now: float) -> Denial | Sequence[BudgetLevel]:
        self._check_open()
        result: Denial | Sequence[BudgetLevel] = await self._batcher.submit("reserve", reservation, now)
        return result

    async def settle(self, reservation: Reservation, tokens: int, cost: int, now: float) -> None:
        self._check_open()
        self._batcher.submit_nowait("settle", reservation, tokens, cost, now)

    async def release(self, reservation: Reservation, now: float) -> None:
        self._check_open()
        self._batcher.submit_nowait("release", reservation, 0, 0, now)

    async def cancel(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation no call used: its request leaves the windows (rpm counts it no more), its
        budget holds go (the ``release`` that follows it in the same batch)."""
        self._check_open()
        self._batcher.submit_nowait("cancel", reservation)
        if reservation.budgets:
            self._batcher.submit_nowait("release", reservation, 0, 0, now)

    async def snapshot(self, windows: Sequence[str], budgets: Sequence[str], now: float) -> Snapshot:
        self._check_open()
        result: Snapshot = await self._batcher.submit("snapshot", tuple(windows), tuple(budgets), now)
        return result

    async def flush(self) -> None:
        """Wait until every settle and release queued so far is written to Redis."""
        await self._batcher.flush()

    # --- the wire ----------------------------------------------------------------------

    async def _load_script(self) -> None:
        assert self._client is not None
        self._sha = await self._client.script_load(_lua.BATCH)

    def _command(self, op: Op) -> tuple[str, list[str], list[Any]]:
        """(operation name, keys, args) of one operation, as the batch script reads them."""
        prefix = self.key_prefix
        if op.kind == "reserve":
            reservation, now = op.args
            keys: list[str] = []
            args: list[Any] = [
                repr(now),
                repr(WINDOW_SECONDS),
                reservation.id,
                repr(reservation.expires_at),
                len(reservation.windows),
                len(reservation.budgets),
                reservation.tokens,
                reservation.cost,
            ]
            for window in reservation.windows:
                keys += (f"{prefix}{window.key}:z", f"{prefix}{window.key}:h")
                args += (_or_none(window.rpm), _or_none(window.tpm))
            for budget in reservation.budgets:
                keys += (f"{prefix}{budget.key}", f"{prefix}{budget.key}:x")
                args += (_or_none(budget.max_tokens), _or_none(budget.max_cost), _ttl_ms(budget.keep_until, now))
            return "reserve", keys, args
        if op.kind == "cancel":
            (reservation,) = op.args
            keys = []
            for window in reservation.windows:
                keys += (f"{prefix}{window.key}:z", f"{prefix}{window.key}:h")
            return "cancel", keys, [reservation.id, len(reservation.windows)]
        if op.kind in ("settle", "release"):
            reservation, tokens, cost, now = op.args
            keys = [f"{prefix}{window.key}:h" for window in reservation.windows]
            for budget in reservation.budgets:
                keys += (f"{prefix}{budget.key}", f"{prefix}{budget.key}:x")
            args = [reservation.id, tokens, cost, len(reservation.windows), len(reservation.budgets), op.kind]
            args += (reservation.tokens, reservation.cost)
            args += [_ttl_ms(budget.keep_until, now) for budget in reservation.budgets]
            return "settle", keys, args
        windows, budgets, now = op.args
        keys = []
        for key in windows:
            keys += (f"{prefix}{key}:z", f"{prefix}{key}:h")
        for key in budgets:
            keys += (f"{prefix}{key}", f"{prefix}{key}:x")
        return "snapshot", keys, [repr(now), repr(WINDOW_SECONDS), len(windows), len(budgets)]

    async def _write(self, ops: Sequence[Op]) -> Sequence[Any]:
        results: list[Any] = []
        for start in range(0, len(ops), _MAX_BATCH):
            results += await self._run(ops[start : start + _MAX_BATCH])
        return results

    async def _run(self, ops: Sequence[Op]) -> list[Any]:
        """One EVALSHA of the batch script for ``ops``; results in order."""
        from redis.exceptions import NoScriptError, RedisError

        client = self._client
        assert client is not None
        keys: list[str] = []
        args: list[str] = []
        for op in ops:
            name, op_keys, op_args = self._command(op)
            keys += op_keys
            args.append(" ".join(map(str, (name, len(op_keys), *op_args))))
        try:
            try:
                replies: list[Any] = await client.evalsha(self._sha, len(keys), *keys, *args)
            except NoScriptError:  # the server lost it (SCRIPT FLUSH, a restart, a failover): load it again
                await self._load_script()
                replies = await client.evalsha(self._sha, len(keys), *keys, *args)
        except RedisError as err:
            raise _unreachable(self.url_for_logs, err) from err
        results: list[Any] = []
        for op, reply in zip(ops, replies, strict=True):
            if op.kind == "reserve":
                results.append(_reserve_result(reply))
            elif op.kind == "snapshot":
                results.append(_snapshot_result(op.args[0], op.args[1], reply))
            else:
                results.append(None)
        return results


def _or_none(value: int | None) -> int:
    return -1 if value is None else value


def _ttl_ms(keep_until: float | None, now: float) -> int:
    return 0 if keep_until is None else max(int((keep_until - now) * 1000), 1000)


def _reserve_result(reply: list[Any]) -> Denial | list[BudgetLevel]:
    if reply[0] == "ok":
        return [(int(reply[i]), int(reply[i + 1])) for i in range(1, len(reply), 2)]
    kind = reply[0]
    if kind not in _DENIALS:
        raise ValueError(f"unexpected reply from the reserve script: {kind!r}")
    retry_after = float(reply[2]) if reply[2] != "" else None
    return Denial(kind, int(reply[1]) - 1, retry_after, int(reply[3]), int(reply[4]))


def _snapshot_result(windows: Sequence[str], budgets: Sequence[str], reply: list[Any]) -> Snapshot:
    window_counters = {}
    for key, row in zip(windows, reply, strict=False):
        entries = tuple((float(row[j]), int(row[j + 1])) for j in range(0, len(row), 2))
        window_counters[key] = WindowCounter(len(entries), sum(tokens for _, tokens in entries), entries)
    budget_counters = {
        key: BudgetCounter(*(int(value) for value in row))
        for key, row in zip(budgets, reply[len(windows) :], strict=True)
    }
    return Snapshot(window_counters, budget_counters)


def _undo(op: Op, result: Any) -> Op | None:
    """A reservation held for a caller that was cancelled while waiting: release it."""
    if op.kind == "reserve" and not isinstance(result, Denial | BaseException):
        reservation, now = op.args
        return Op("release", (reservation, 0, 0, now))
    return None


def _unreachable(url: str, err: BaseException) -> PolicyError:
    return PolicyError(
        f"the policy backend Redis at {url} failed ({type(err).__name__}: {err}); calls are refused until it "
        "answers again: check that it is running and reachable"
    )
