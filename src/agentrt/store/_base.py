"""The Store: what the policy engine, the ledger and the agents code against, whatever the database.

A :class:`Store` is a small async SQL interface over SQLite or PostgreSQL. SQL
uses ``?`` placeholders on both; portable column types are ``TEXT``,
``BIGINT``, ``DOUBLE PRECISION`` (timestamps as epoch seconds, UTC), and
``INSERT ... ON CONFLICT (...) DO UPDATE`` works on both.

Lifetime: a store is created closed (``open_store(url)``), opened once
(``await store.open()`` or ``async with``), and closed once; closing twice is
harmless, opening twice or using a closed store raises ``RuntimeStateError``.

Transactions: ``async with store.transaction() as tx`` commits on a clean exit
and rolls back on an exception. Inside that block, run statements on ``tx``:
the store's own methods run outside the transaction, so calling them there
would wait on it (SQLite) or on its row locks (PostgreSQL); they raise
``RuntimeStateError`` instead of hanging.
"""

from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, Literal, Protocol

import structlog

from agentrt.errors import RuntimeStateError
from agentrt.store._sql import split_sqlite_statements

__all__ = ["Dialect", "Params", "Row", "Store", "Transaction"]

Dialect = Literal["sqlite", "postgresql"]
Params = Sequence[Any]
"""Positional parameters of one statement, one per ``?``."""
Row = tuple[Any, ...]

_log = structlog.get_logger("agentrt.store")


class Transaction(Protocol):
    """One database transaction: statements run on one connection, committed together or not at all.

    Valid only inside its ``async with store.transaction() as tx`` block; used
    after it, each method raises ``RuntimeStateError``.
    """

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return its row count (rows changed by INSERT, UPDATE, DELETE)."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per parameter row."""
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query; return every row as a tuple."""
        ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query; return its first row, or None when it has none."""
        ...


class TransactionBase(ABC):
    """What both dialects' transactions share: the active flag that refuses use after the block."""

    __slots__ = ("_active", "store")

    def __init__(self, store: Store) -> None:
        self.store = store
        self._active = True

    @property
    def active(self) -> bool:
        """True inside the ``async with`` block that created it."""
        return self._active

    def end(self) -> None:
        self._active = False

    def check(self) -> None:
        if not self._active:
            raise RuntimeStateError(
                "this transaction has ended (its `async with store.transaction()` block exited): "
                "open a new one for more statements"
            )

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...


# The transaction the current task is inside, so that a store method called in its block
# fails at once rather than deadlocking against it. Child tasks inherit it; `active` tells
# whether the block is still running.
_CURRENT_TRANSACTION: contextvars.ContextVar[TransactionBase | None] = contextvars.ContextVar(
    "agentrt_store_transaction", default=None
)


def in_own_transaction(store: Store) -> bool:
    """True when the current task runs inside an open ``store.transaction()`` block of ``store``."""
    current = _CURRENT_TRANSACTION.get()
    return current is not None and current.active and current.store is store


class Store:
    """An open connection (SQLite) or pool of connections (PostgreSQL) to the store's database.

    Create one with :func:`agentrt.store.open_store`; see the module docstring
    for its lifetime and the SQL it accepts. ``SQLiteStore`` and
    ``PostgresStore`` fill in the ``_``-prefixed hooks. The class is not
    declared abstract so that ``services.get(Store)`` type-checks.
    """

    dialect: ClassVar[Dialect]
    """``sqlite`` or ``postgresql``: which SQL the database speaks, for code that must differ."""

    def __init__(self, url_for_logs: str) -> None:
        self._url_for_logs = url_for_logs
        self._state: Literal["new", "open", "closing", "closed"] = "new"

    # --- lifetime ------------------------------------------------------------------

    @property
    def url_for_logs(self) -> str:
        """The store's URL with any password masked: the only form in which it is shown or logged."""
        return self._url_for_logs

    @property
    def is_open(self) -> bool:
        return self._state == "open"

    async def open(self) -> None:
        """Connect. Raises ``RuntimeStateError`` if already opened, ``StoreError`` if the database is unreachable."""
        if self._state != "new":
            what = "is already open" if self._state == "open" else "was closed; a closed store cannot reopen"
            raise RuntimeStateError(f"the store {self._url_for_logs} {what}: call open_store() for a new one")
        await self._open()
        self._state = "open"
        _log.debug("store_opened", store=self._url_for_logs, dialect=self.dialect)

    async def close(self) -> None:
        """Wait for running statements, then disconnect. Closing twice (or a store never opened) is harmless."""
        if self._state != "open":
            self._state = "closed" if self._state == "new" else self._state
            return
        self._state = "closing"
        try:
            await self._close()
        finally:
            self._state = "closed"
            _log.debug("store_closed", store=self._url_for_logs)

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._url_for_logs} {self._state}>"

    __str__ = __repr__

    # --- statements -----------------------------------------------------------------

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; return its row count (rows changed by DML)."""
        self._check_usable("execute")
        return await self._execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per row, all in one transaction (all rows or none)."""
        self._check_usable("executemany")
        await self._executemany(sql, rows)

    async def executemany_each(self, statements: Sequence[tuple[str, Sequence[Params]]]) -> None:
        """Run each ``(sql, rows)`` as :meth:`executemany`, all in one transaction (all or none).

        One round trip to the store where the backend allows it: the batch writers of the ledger and the
        audit trail write every flush this way."""
        self._check_usable("executemany_each")
        await self._executemany_each(statements)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query; return every row as a tuple."""
        self._check_usable("fetchall")
        return await self._fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """Run a query; return its first row, or None when it has none."""
        self._check_usable("fetchone")
        return await self._fetchone(sql, params)

    def transaction(self, *, serializable: bool = False) -> AbstractAsyncContextManager[Transaction]:
        """A transaction: ``async with store.transaction() as tx: await tx.execute(...)``.

        Commits when the block exits cleanly, rolls back when it raises. SQLite
        starts it with ``BEGIN IMMEDIATE``: writers serialise, also across
        processes, waiting up to ``busy_timeout``. PostgreSQL runs it on one
        pooled connection at READ COMMITTED, or SERIALIZABLE with
        ``serializable=True`` (a serialization failure is then a ``StoreError``
        with ``retryable=True``: run the whole block again).
        """
        self._check_usable("transaction")
        return self._scoped_transaction(serializable)

    @asynccontextmanager
    async def _scoped_transaction(self, serializable: bool) -> AsyncIterator[Transaction]:
        async with self._transaction(serializable) as tx:
            token = _CURRENT_TRANSACTION.set(tx)
            try:
                yield tx
            finally:
                tx.end()
                _CURRENT_TRANSACTION.reset(token)

    async def migrate(self, component: str, migrations: Sequence[str | Mapping[str, str]]) -> int:
        """Bring ``component``'s tables to the latest version; return that version.

        ``migrations[i]`` is version ``i + 1``: SQL text (statements separated by
        ``;``) or ``{"sqlite": sql, "postgresql": sql}`` where the dialects
        differ. Each pending one runs in its own transaction and is recorded in
        ``agentrt_schema``; several processes migrating at once serialise, and
        each migration applies exactly once.
        """
        from agentrt.store.migrations import apply_migrations

        self._check_usable("migrate")
        return await apply_migrations(self, component, migrations)

    # --- for the dialects ---------------------------------------------------------

    def _check_usable(self, operation: str) -> None:
        if self._state != "open":
            if self._state == "new":
                raise RuntimeStateError(
                    f"store.{operation}() on a store that is not open: "
                    f"`await store.open()` or `async with open_store(url) as store` first ({self._url_for_logs})"
                )
            raise RuntimeStateError(
                f"store.{operation}() on a closed store ({self._url_for_logs}): "
                "the runtime has stopped or the store was closed; open a new one with open_store()"
            )
        if in_own_transaction(self):
            raise RuntimeStateError(
                f"store.{operation}() inside `async with store.transaction() as tx`: use tx.{operation}() "
                "(the store's own methods run outside the transaction and would wait for it to end)"
                if operation != "transaction"
                else "store.transaction() inside another transaction of the same store: nested transactions "
                "are not supported; run the statements on the outer `tx`"
            )

    async def _lock_for_migrations(self, tx: Transaction) -> None:
        """Serialise migrations across processes inside ``tx``; SQLite's BEGIN IMMEDIATE already does."""

    async def _run_script(self, tx: Transaction, script: str) -> None:
        """Run a migration's ``;``-separated statements inside ``tx``."""
        for statement in split_sqlite_statements(script):
            await tx.execute(statement)

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _execute(self, sql: str, params: Params) -> int:
        raise NotImplementedError

    async def _executemany(self, sql: str, rows: Iterable[Params]) -> None:
        raise NotImplementedError

    async def _executemany_each(self, statements: Sequence[tuple[str, Sequence[Params]]]) -> None:
        async with self.transaction() as tx:
            for sql, rows in statements:
                await tx.executemany(sql, rows)

    async def _fetchall(self, sql: str, params: Params) -> list[Row]:
        raise NotImplementedError

    async def _fetchone(self, sql: str, params: Params) -> Row | None:
        raise NotImplementedError

    def _transaction(self, serializable: bool) -> AbstractAsyncContextManager[TransactionBase]:
        raise NotImplementedError
