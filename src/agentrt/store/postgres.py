"""The PostgreSQL store: psycopg 3 (async) over a ``psycopg_pool.AsyncConnectionPool``.

Connections run in autocommit mode, so a statement outside a transaction is
its own transaction and a pooled connection never sits idle inside one;
``store.transaction()`` opens an explicit one on a single pooled connection.
SQL keeps the ``?`` placeholders every store speaks; they become ``%s`` here.

Pool size comes from the URL (``?max_connections=10&min_connections=1``); the
other query options (``sslmode``, ``connect_timeout``, ``application_name`` ...)
go to libpq as they are.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from agentrt.errors import StoreError
from agentrt.store._base import Dialect, Params, Row, Store, Transaction, TransactionBase
from agentrt.store._sql import to_pyformat
from agentrt.store._url import DEFAULT_MAX_CONNECTIONS, MASK, StoreURL, int_option, url_password

__all__ = ["PostgresStore"]

Connection = psycopg.AsyncConnection[tuple[Any, ...]]

# One advisory lock key for every agentrt migration in a database: migrations are rare and
# short, so one lock for all components keeps the reasoning simple.
MIGRATION_LOCK_KEY = zlib.crc32(b"agentrt_schema")

# Errors after which the same work may succeed when tried again.
_RETRYABLE = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
    psycopg.OperationalError,
)


class PostgresStore(Store):
    """A store in a PostgreSQL database, shared by every process and machine that opens the same URL."""

    dialect: ClassVar[Dialect] = "postgresql"

    def __init__(self, url: StoreURL) -> None:
        super().__init__(url.for_logs)
        self._conninfo = url.conninfo
        self._password = url_password(url.conninfo)
        self.max_connections = int_option(url.options, "max_connections", DEFAULT_MAX_CONNECTIONS, minimum=1)
        self.min_connections = min(int_option(url.options, "min_connections", 1), self.max_connections)
        self._pool: AsyncConnectionPool[Connection] | None = None

    # --- lifetime ------------------------------------------------------------------

    async def _open(self) -> None:
        # One direct connection first: when the server is unreachable or refuses us, libpq's own
        # message says why, where the pool would only report a timeout.
        try:
            probe = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.Error as err:
            raise StoreError(
                f"cannot connect to the PostgreSQL store {self.url_for_logs}: {self._scrub(str(err))}; "
                "check store.url and that the server is running and accepts this user",
                dialect="postgresql",
                retryable=isinstance(err, psycopg.OperationalError),
            ) from None
        await probe.close()
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._conninfo,
            kwargs={"autocommit": True},
            min_size=self.min_connections,
            max_size=self.max_connections,
            open=False,
            name="agentrt-store",
        )
        try:
            await pool.open(wait=True, timeout=30)
        except PoolTimeout as err:
            await pool.close()
            raise StoreError(
                f"the PostgreSQL store {self.url_for_logs} did not give {self.min_connections} connection(s) "
                "within 30 s; check the server's max_connections and load",
                dialect="postgresql",
                retryable=True,
            ) from err
        self._pool = pool

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close(timeout=10)

    # --- statements -----------------------------------------------------------------

    async def _execute(self, sql: str, params: Params) -> int:
        async with self._connection(sql) as conn:
            cursor = await conn.execute(to_pyformat(sql), tuple(params))
            return cursor.rowcount

    async def _executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._connection(sql) as conn, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(to_pyformat(sql), [tuple(row) for row in rows])

    async def _fetchall(self, sql: str, params: Params) -> list[Row]:
        async with self._connection(sql) as conn:
            cursor = await conn.execute(to_pyformat(sql), tuple(params))
            return await cursor.fetchall()

    async def _fetchone(self, sql: str, params: Params) -> Row | None:
        async with self._connection(sql) as conn:
            cursor = await conn.execute(to_pyformat(sql), tuple(params))
            return await cursor.fetchone()

    @asynccontextmanager
    async def _transaction(self, serializable: bool) -> AsyncIterator[TransactionBase]:
        async with self._connection("COMMIT") as conn, conn.transaction():
            if serializable:
                await conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            tx = _PostgresTransaction(self, conn)
            try:
                yield tx
            finally:
                tx.end()

    async def _lock_for_migrations(self, tx: Transaction) -> None:
        # Held until the transaction ends: concurrent migrators (other processes, other machines)
        # take turns, and CREATE TABLE IF NOT EXISTS never races on the catalog.
        await tx.fetchone("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))

    async def _run_script(self, tx: Transaction, script: str) -> None:
        # PostgreSQL runs several statements in one call when it has no parameters: sent as written.
        assert isinstance(tx, _PostgresTransaction)
        tx.check()
        try:
            await tx.conn.execute(script.encode())
        except psycopg.Error as err:
            raise self.error(err, script) from err

    # --- helpers --------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self, sql: str) -> AsyncIterator[Connection]:
        pool = self._pool
        if pool is None:
            self._check_usable("execute")
            raise AssertionError("unreachable: an open store has a pool")
        try:
            async with pool.connection() as conn:
                yield conn
        except PoolTimeout as err:
            raise StoreError(
                f"no connection of the PostgreSQL store {self.url_for_logs} came free within "
                f"{pool.timeout:g} s (max_connections={self.max_connections}); raise max_connections in "
                "the store url or shorten transactions",
                dialect="postgresql",
                retryable=True,
            ) from err
        except psycopg.Error as err:
            raise self.error(err, sql) from err

    def error(self, err: psycopg.Error, sql: str) -> StoreError:
        """A ``StoreError`` for a driver error: what failed, in which statement, with no password in it."""
        statement = " ".join(sql.split())
        if len(statement) > 200:
            statement = statement[:197] + "..."
        return StoreError(
            f"PostgreSQL store {self.url_for_logs}: {type(err).__name__}: {self._scrub(str(err).strip())} "
            f"(in: {statement})",
            dialect="postgresql",
            retryable=isinstance(err, _RETRYABLE),
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, MASK) if self._password else text


class _PostgresTransaction(TransactionBase):
    """Statements of one PostgreSQL transaction, all on the one connection it holds."""

    __slots__ = ("conn",)

    store: PostgresStore

    def __init__(self, store: PostgresStore, conn: Connection) -> None:
        super().__init__(store)
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        self.check()
        try:
            cursor = await self.conn.execute(to_pyformat(sql), tuple(params))
        except psycopg.Error as err:
            raise self.store.error(err, sql) from err
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self.check()
        try:
            async with self.conn.cursor() as cursor:
                await cursor.executemany(to_pyformat(sql), [tuple(row) for row in rows])
        except psycopg.Error as err:
            raise self.store.error(err, sql) from err

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self.check()
        try:
            cursor = await self.conn.execute(to_pyformat(sql), tuple(params))
            return await cursor.fetchall()
        except psycopg.Error as err:
            raise self.store.error(err, sql) from err

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        self.check()
        try:
            cursor = await self.conn.execute(to_pyformat(sql), tuple(params))
            return await cursor.fetchone()
        except psycopg.Error as err:
            raise self.store.error(err, sql) from err
