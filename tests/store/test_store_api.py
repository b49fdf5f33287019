"""The Store API, the same on a SQLite file, SQLite in memory and a real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from agentrt.errors import RuntimeStateError, StoreError
from agentrt.store import Store, current_version, open_store

TABLE = "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, price DOUBLE PRECISION, note TEXT)"


@pytest.fixture
async def items(store: Store) -> Store:
    await store.migrate("items", [TABLE])
    return store


async def test_portable_types_round_trip(items: Store) -> None:
    await items.execute("INSERT INTO items (id, name, price, note) VALUES (?, ?, ?, ?)", (1, "pen", 1.5, None))
    await items.execute("INSERT INTO items (id, name, price, note) VALUES (?, ?, ?, ?)", [2**40, "ink", 0.25, "x"])
    assert await items.fetchall("SELECT id, name, price, note FROM items ORDER BY id") == [
        (1, "pen", 1.5, None),
        (2**40, "ink", 0.25, "x"),
    ]
    assert await items.fetchone("SELECT name FROM items WHERE id = ?", (2**40,)) == ("ink",)
    assert await items.fetchone("SELECT name FROM items WHERE id = ?", (3,)) is None


async def test_execute_returns_the_rows_changed(items: Store) -> None:
    await items.executemany("INSERT INTO items (id, name) VALUES (?, ?)", [(i, f"n{i}") for i in range(5)])
    assert await items.execute("UPDATE items SET price = ? WHERE id < ?", (2.0, 3)) == 3
    assert await items.execute("DELETE FROM items WHERE id = ?", (99,)) == 0


async def test_upsert_with_on_conflict_works_on_every_dialect(items: Store) -> None:
    upsert = (
        "INSERT INTO items (id, name, price) VALUES (?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET price = items.price + excluded.price"
    )
    for _ in range(3):
        await items.execute(upsert, (7, "pen", 1.25))
    assert await items.fetchone("SELECT price FROM items WHERE id = 7") == (3.75,)


async def test_question_marks_and_percent_signs_in_literals_are_text(items: Store) -> None:
    await items.execute("INSERT INTO items (id, name, note) VALUES (?, 'what?', '100% sure?')", (1,))
    row = await items.fetchone(
        "SELECT name, note, '?', ? FROM items /* a ? here */ WHERE note LIKE '100%' AND id = ? -- and ? here",
        ("param", 1),
    )
    assert row == ("what?", "100% sure?", "?", "param")
    # Without parameters too: a '%' must not be mistaken for a placeholder.
    assert await items.fetchone("SELECT 'it''s 50% off?' FROM items") == ("it's 50% off?",)


async def test_executemany_is_all_or_nothing(items: Store) -> None:
    await items.execute("INSERT INTO items (id, name) VALUES (3, 'taken')")
    with pytest.raises(StoreError) as caught:
        await items.executemany("INSERT INTO items (id, name) VALUES (?, ?)", [(1, "a"), (2, "b"), (3, "dup")])
    assert caught.value.dialect == items.dialect
    assert not caught.value.retryable
    assert "INSERT INTO items" in str(caught.value)
    assert await items.fetchall("SELECT id FROM items ORDER BY id") == [(3,)]


async def test_executemany_each_runs_every_statement_in_one_transaction(items: Store) -> None:
    insert = "INSERT INTO items (id, name) VALUES (?, ?)"
    await items.executemany_each([(insert, [(1, "a"), (2, "b")]), ("DELETE FROM items WHERE id = ?", [(1,)])])
    assert await items.fetchall("SELECT id, name FROM items ORDER BY id") == [(2, "b")]
    with pytest.raises(StoreError):  # the second statement fails: the first one's rows go too
        await items.executemany_each([(insert, [(5, "e")]), (insert, [(2, "dup")])])
    assert await items.fetchall("SELECT id FROM items ORDER BY id") == [(2,)]


async def test_a_transaction_commits_on_a_clean_exit(items: Store) -> None:
    async with items.transaction() as tx:
        await tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "a"))
        await tx.executemany("INSERT INTO items (id, name) VALUES (?, ?)", [(2, "b"), (3, "c")])
        assert await tx.fetchone("SELECT COUNT(*) FROM items") == (3,)
        assert await tx.fetchall("SELECT name FROM items WHERE id > ? ORDER BY id", (1,)) == [("b",), ("c",)]
    assert await items.fetchone("SELECT COUNT(*) FROM items") == (3,)


async def test_a_transaction_rolls_back_when_its_block_raises(items: Store) -> None:
    async def insert_then_fail() -> None:
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "a"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await insert_then_fail()
    assert await items.fetchone("SELECT COUNT(*) FROM items") == (0,)


async def test_a_failed_statement_rolls_the_whole_transaction_back(items: Store) -> None:
    async def insert_twice() -> None:
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "a"))
            await tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "again"))

    with pytest.raises(StoreError):
        await insert_twice()
    assert await items.fetchone("SELECT COUNT(*) FROM items") == (0,)
    await items.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "after"))  # the store is still usable


async def test_a_cancelled_transaction_leaves_nothing_and_the_store_usable(items: Store) -> None:
    entered = asyncio.Event()

    async def slow_writer() -> None:
        async with items.transaction() as tx:
            await tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (1, "a"))
            entered.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(slow_writer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await items.fetchone("SELECT COUNT(*) FROM items") == (0,)
    async with items.transaction() as tx:
        await tx.execute("INSERT INTO items (id, name) VALUES (?, ?)", (2, "b"))
    assert await items.fetchall("SELECT id FROM items") == [(2,)]


async def test_concurrent_transactions_of_one_store_do_not_lose_increments(items: Store) -> None:
    await items.execute("INSERT INTO items (id, name, price) VALUES (1, 'counter', 0)")

    async def increment() -> None:
        async with items.transaction() as tx:
            await tx.execute("UPDATE items SET price = price + 1 WHERE id = 1")
            await asyncio.sleep(0)  # let the other tasks try to run in between

    await asyncio.gather(*(increment() for _ in range(40)))
    assert await items.fetchone("SELECT price FROM items WHERE id = 1") == (40.0,)


async def test_store_methods_inside_a_transaction_are_refused_instead_of_deadlocking(items: Store) -> None:
    async with items.transaction() as tx:
        with pytest.raises(RuntimeStateError, match=r"use tx\.execute\(\)"):
            await items.execute("INSERT INTO items (id, name) VALUES (1, 'a')")
        with pytest.raises(RuntimeStateError, match="nested transactions"):
            items.transaction()
        await tx.execute("INSERT INTO items (id, name) VALUES (2, 'b')")
    assert await items.fetchall("SELECT id FROM items") == [(2,)]


async def test_a_transaction_cannot_be_used_after_its_block(items: Store) -> None:
    async with items.transaction() as tx:
        pass
    with pytest.raises(RuntimeStateError, match="transaction has ended"):
        await tx.execute("SELECT 1")


async def test_a_serializable_transaction_runs(items: Store) -> None:
    async with items.transaction(serializable=True) as tx:
        await tx.execute("INSERT INTO items (id, name) VALUES (1, 'a')")
    assert await items.fetchone("SELECT name FROM items") == ("a",)


# --- lifetime -------------------------------------------------------------------------------


async def test_lifetime_states_are_explicit(store_url: str) -> None:
    store = open_store(store_url)
    with pytest.raises(RuntimeStateError, match="not open"):
        await store.fetchall("SELECT 1")
    await store.open()
    assert store.is_open
    with pytest.raises(RuntimeStateError, match="already open"):
        await store.open()
    await store.close()
    await store.close()  # harmless
    for call in (store.fetchall("SELECT 1"), store.execute("SELECT 1"), store.migrate("x", [])):
        with pytest.raises(RuntimeStateError, match="closed store"):
            await call
    with pytest.raises(RuntimeStateError, match="closed store"):
        store.transaction()
    with pytest.raises(RuntimeStateError, match="cannot reopen"):
        await store.open()


async def test_close_waits_for_a_running_transaction(store_url: str) -> None:
    store = open_store(store_url)
    await store.open()
    await store.migrate("items", [TABLE])
    started = asyncio.Event()

    async def writer() -> None:
        async with store.transaction() as tx:
            started.set()
            await asyncio.sleep(0.01)
            await tx.execute("INSERT INTO items (id, name) VALUES (1, 'a')")

    task = asyncio.create_task(writer())
    await started.wait()
    await store.close()
    await task  # finished, committed, not cut off
    if store_url != "memory://":
        async with open_store(store_url) as again:
            assert await again.fetchall("SELECT id FROM items") == [(1,)]


# --- migrations -----------------------------------------------------------------------------


async def test_migrations_apply_once_and_record_their_versions(store: Store) -> None:
    first = [TABLE, "INSERT INTO items (id, name) VALUES (1, 'seed')"]
    assert await store.migrate("items", first) == 2
    assert await store.migrate("items", first) == 2
    assert await store.fetchone("SELECT COUNT(*) FROM items") == (1,)
    assert await current_version(store, "items") == 2
    assert await current_version(store, "other") == 0
    rows = await store.fetchall("SELECT component, version FROM agentrt_schema ORDER BY version")
    assert rows == [("items", 1), ("items", 2)]


async def test_a_new_migration_applies_only_itself(store: Store) -> None:
    v1 = [TABLE]
    await store.migrate("items", v1)
    await store.execute("INSERT INTO items (id, name) VALUES (1, 'kept')")
    assert await store.migrate("items", [*v1, "ALTER TABLE items ADD COLUMN stock BIGINT"]) == 2
    assert await store.fetchall("SELECT name, stock FROM items") == [("kept", None)]


async def test_components_have_their_own_versions(store: Store) -> None:
    await store.migrate("a", ["CREATE TABLE a_t (x BIGINT)", "CREATE TABLE a_u (x BIGINT)"])
    assert await store.migrate("b", ["CREATE TABLE b_t (x BIGINT)"]) == 1
    assert await current_version(store, "a") == 2


async def test_a_migration_of_several_statements_and_per_dialect_sql(store: Store) -> None:
    migration = {
        "sqlite": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a;b'); "
        "INSERT INTO t (v) VALUES ('sqlite')",
        "postgresql": "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a;b'); "
        "INSERT INTO t (v) VALUES ('postgresql')",
    }
    await store.migrate("t", [migration])
    assert await store.fetchall("SELECT v FROM t ORDER BY id") == [("a;b",), (store.dialect,)]


async def test_a_failing_migration_leaves_nothing_and_runs_again_once_fixed(store: Store) -> None:
    broken = [TABLE, "INSERT INTO items (id, name) VALUES (1, 'x'); INSERT INTO nowhere VALUES (1)"]
    with pytest.raises(StoreError, match="nowhere"):
        await store.migrate("items", broken)
    assert await current_version(store, "items") == 1
    assert await store.fetchone("SELECT COUNT(*) FROM items") == (0,)
    fixed = [TABLE, "INSERT INTO items (id, name) VALUES (1, 'x')"]
    assert await store.migrate("items", fixed) == 2
    assert await store.fetchone("SELECT COUNT(*) FROM items") == (1,)


async def test_a_migration_without_sql_for_the_dialect_is_refused_before_anything_runs(store: Store) -> None:
    with pytest.raises(ValueError, match=f"no SQL for {store.dialect}"):
        await store.migrate("items", [TABLE, {"oracle": "CREATE TABLE x (y INT)"}])
    assert await current_version(store, "items") == 0


async def test_a_database_newer_than_the_code_keeps_its_version(store: Store) -> None:
    await store.migrate("items", [TABLE, "ALTER TABLE items ADD COLUMN stock BIGINT"])
    assert await store.migrate("items", [TABLE]) == 2


@pytest.mark.parametrize("store_url", ["sqlite-file", "postgresql"], indirect=True)  # memory: one database each
async def test_two_stores_migrating_one_database_at_once_apply_each_migration_once(store_url: str) -> None:
    migrations = [TABLE, "INSERT INTO items (id, name) VALUES (1, 'once')", "UPDATE items SET price = 1"]
    stores = [open_store(store_url) for _ in range(3)]
    for store in stores:
        await store.open()
    try:
        versions = await asyncio.gather(*(store.migrate("items", migrations) for store in stores))
        assert versions == [3, 3, 3]
        assert await stores[0].fetchall("SELECT name, price FROM items") == [("once", 1.0)]
        assert await stores[0].fetchone("SELECT COUNT(*) FROM agentrt_schema") == (3,)
    finally:
        for store in stores:
            await store.close()
