"""The SQLite store: one connection, driven from one worker thread, so disk I/O never blocks the event loop.

Settings: WAL (readers never wait for the writer, a crash loses at most the
transactions not yet committed), ``synchronous=NORMAL`` (durable across a
process crash; a power loss may drop the last commits, never corrupt the file),
and ``busy_timeout`` (a writer waits that long for another process's write
lock before failing).

Every statement runs on the worker thread, in submission order. An asyncio lock
makes a transaction exclusive: between its ``BEGIN IMMEDIATE`` and its
``COMMIT``, statements from other tasks wait rather than slipping into it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import structlog

from agentrt.errors import StoreError
from agentrt.store._base import Dialect, Params, Row, Store, TransactionBase, in_own_transaction
from agentrt.store._url import DEFAULT_BUSY_TIMEOUT_MS, StoreURL, int_option

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_log = structlog.get_logger("agentrt.store")


class SQLiteStore(Store):
    """A store in one SQLite file (or in memory, private to this store). Create it with ``open_store``."""

    dialect: ClassVar[Dialect] = "sqlite"

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url.for_logs)
        self.path: Path | None = url.path
        """The database file; None in memory."""
        self.busy_timeout_ms = int_option(url.options, "busy_timeout", DEFAULT_BUSY_TIMEOUT_MS)
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = asyncio.Lock()

    # --- lifetime ------------------------------------------------------------------

    async def _open(self) -> None:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentrt-sqlite")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, _connect, self.path, self.busy_timeout_ms)
        except sqlite3.Error as err:
            executor.shutdown(wait=False)
            if _is_busy(err):
                raise self._error(err, "PRAGMA journal_mode = WAL") from err
            raise StoreError(
                f"cannot open the SQLite store {self.url_for_logs}: {err}; check that the directory is writable "
                "and the file is a SQLite database",
                dialect="sqlite",
            ) from err
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._conn, self._executor = conn, executor

    async def _close(self) -> None:
        conn, executor = self._conn, self._executor
        if conn is None or executor is None:
            return
        async with self._lock:  # let a running transaction finish first
            try:
                await asyncio.get_running_loop().run_in_executor(executor, conn.close)
            finally:
                self._conn = self._executor = None
                executor.shutdown(wait=False)

    # --- statements -----------------------------------------------------------------

    async def _execute(self, sql: str, params: Params) -> int:
        async with self._lock:
            return await self._call(_execute, sql, params)

    async def _executemany(self, sql: str, rows: Iterable[Params]) -> None:
        batch = list(rows)  # materialised here: the worker thread must not run the caller's generator
        async with self._lock:
            await self._call(_executemany_atomic, sql, batch)

    async def _executemany_each(self, statements: Sequence[tuple[str, Sequence[Params]]]) -> None:
        batches = [(sql, list(rows)) for sql, rows in statements]  # materialised here, not on the worker
        async with self._lock:
            await self._call(_executemany_each_atomic, "", batches)

    async def _fetchall(self, sql: str, params: Params) -> list[Row]:
        async with self._lock:
            return await self._call(_fetchall, sql, params)

    async def _fetchone(self, sql: str, params: Params) -> Row | None:
        async with self._lock:
            return await self._call(_fetchone, sql, params)

    @asynccontextmanager
    async def _transaction(self, serializable: bool) -> AsyncIterator[TransactionBase]:
        # SQLite transactions are serializable already; BEGIN IMMEDIATE takes the write lock up front,
        # so two writers never both read and then fail to upgrade (the deadlock of a deferred BEGIN).
        async with self._lock:
            try:
                await self._call(_run_plain, "BEGIN IMMEDIATE")
            except BaseException:
                # Cancelled while the worker waited for the lock: BEGIN may still succeed there.
                await self._settle(_rollback_if_open)
                raise
            tx = _SQLiteTransaction(self)
            try:
                yield tx
            except BaseException:
                tx.end()
                await self._settle(_rollback_if_open)
                raise
            tx.end()
            try:
                await self._call(_run_plain, "COMMIT")
            except BaseException:
                await self._settle(_rollback_if_open)
                raise

    # --- the worker -----------------------------------------------------------------

    async def call(self, fn: Callable[..., T], sql: str, *args: Any) -> T:
        """Run ``fn(connection, sql, *args)`` on the worker thread, with the raw ``sqlite3.Connection``.

        For code that must run many statements in one hop (the policy backend's
        counters): inside ``async with store.transaction()`` it runs in that
        transaction; outside, it waits its turn like any statement and runs in
        autocommit mode. ``fn`` must not commit, roll back or close the
        connection. ``sqlite3`` errors become ``StoreError`` (``sql`` names
        the work in their message).
        """
        if in_own_transaction(self):
            return await self._call(fn, sql, *args)
        self._check_usable("call")
        async with self._lock:
            return await self._call(fn, sql, *args)

    async def _call(self, fn: Callable[..., T], sql: str, *args: Any) -> T:
        """``call`` without the lock: for the statements of the holder of the lock."""
        executor, conn = self._executor, self._conn
        if executor is None or conn is None:
            self._check_usable("execute")  # raises the clear error for a closed store
            raise AssertionError("unreachable: an open store has a connection")
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, conn, sql, *args)
        except sqlite3.Error as err:
            raise self._error(err, sql) from err

    async def _settle(self, fn: Callable[[sqlite3.Connection, str], None]) -> None:
        """Finish a transaction after an error; runs to the end even if the waiting task is cancelled again."""
        executor, conn = self._executor, self._conn
        if executor is None or conn is None:
            return
        future = asyncio.get_running_loop().run_in_executor(executor, fn, conn, "")
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            raise
        except sqlite3.Error as err:  # the original error matters more; the connection stays usable
            _log.warning("store_rollback_failed", store=self.url_for_logs, error=str(err))

    def _error(self, err: sqlite3.Error, sql: str) -> StoreError:
        text = str(err)
        if _is_busy(err):
            return StoreError(
                f"the SQLite store {self.url_for_logs} stayed locked by another writer for longer than "
                f"busy_timeout ({self.busy_timeout_ms} ms); retry, keep write transactions short, or raise "
                "busy_timeout in the store url (?busy_timeout=MS)",
                dialect="sqlite",
                retryable=True,
            )
        statement = " ".join(sql.split())
        if len(statement) > 200:
            statement = statement[:197] + "..."
        return StoreError(
            f"SQLite store {self.url_for_logs}: {type(err).__name__}: {text} (in: {statement})",
            dialect="sqlite",
        )


class _SQLiteTransaction(TransactionBase):
    """Statements of one SQLite transaction: the store's lock is held by the block that opened it."""

    __slots__ = ()

    store: SQLiteStore

    async def execute(self, sql: str, params: Params = ()) -> int:
        self.check()
        return await self.store._call(_execute, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.check()
        await self.store._call(_executemany, sql, list(rows))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self.check()
        return await self.store._call(_fetchall, sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        self.check()
        return await self.store._call(_fetchone, sql, params)


def _is_busy(err: sqlite3.Error) -> bool:
    text = str(err)
    return isinstance(err, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


# --- run on the worker thread ----------------------------------------------------------


def _connect(path: Path | None, busy_timeout_ms: int) -> sqlite3.Connection:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: no implicit BEGIN; transactions are exactly the ones we open.
    # check_same_thread=False: the one worker thread is the only user, but not the thread that
    # the executor might recreate; the asyncio lock and the single worker serialise every use.
    conn = sqlite3.connect(
        str(path) if path is not None else ":memory:",
        isolation_level=None,
        check_same_thread=False,
        timeout=busy_timeout_ms / 1000,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if path is not None:
            _enable_wal(conn, busy_timeout_ms)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite does not call the busy
    # handler for it: when processes open a new file at once, all but one get "database is
    # locked" at once. So wait here, as busy_timeout would, before giving up.
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _run_plain(conn: sqlite3.Connection, sql: str) -> None:
    conn.execute(sql)


def _execute(conn: sqlite3.Connection, sql: str, params: Params) -> int:
    cursor = conn.execute(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _executemany(conn: sqlite3.Connection, sql: str, rows: list[Params]) -> None:
    conn.executemany(sql, rows).close()


def _executemany_atomic(conn: sqlite3.Connection, sql: str, rows: list[Params]) -> None:
    _executemany_each_atomic(conn, sql, [(sql, rows)])


def _fetchall(conn: sqlite3.Connection, sql: str, params: Params) -> list[Row]:
    cursor = conn.execute(sql, params)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


def _fetchone(conn: sqlite3.Connection, sql: str, params: Params) -> Row | None:
    cursor = conn.execute(sql, params)
    try:
        row: Row | None = cursor.fetchone()
        return row
    finally:
        cursor.close()  # an unfinished SELECT would hold its read snapshot open


def _executemany_each_atomic(conn: sqlite3.Connection, _sql: str, batches: list[tuple[str, list[Params]]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in batches:
            conn.executemany(sql, rows).close()
        conn.execute("COMMIT")
    except BaseException:
        _rollback_if_open(conn, "")
        raise


def _rollback_if_open(conn: sqlite3.Connection, _sql: str) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
