"""What is particular to the SQLite store: its settings, the worker thread, and several processes on one file."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agentrt.errors import RuntimeStateError, StoreError
from agentrt.store import open_store
from agentrt.store.sqlite import SQLiteStore

WORKERS = Path(__file__).with_name("store_workers.py")


def _workers(*args: str, count: int = 2) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [sys.executable, str(WORKERS), *args, *([str(i)] if args[0] == "increment" else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]


def _go_and_wait(processes: list[subprocess.Popen[str]]) -> list[str]:
    """Release every worker at once, once all are ready (they wait for a line), then collect their output."""
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs


async def test_a_file_store_uses_wal_normal_sync_and_a_busy_timeout(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'a.db'}?busy_timeout=1234") as store:
        assert await store.fetchone("PRAGMA journal_mode") == ("wal",)
        assert await store.fetchone("PRAGMA synchronous") == (1,)  # NORMAL
        assert await store.fetchone("PRAGMA busy_timeout") == (1234,)
        assert store.dialect == "sqlite"


async def test_a_relative_path_resolves_against_base_dir_and_its_directory_is_created(tmp_path: Path) -> None:
    store = open_store("sqlite:///data/nested/agentrt.db", base_dir=tmp_path)
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "data" / "nested" / "agentrt.db"
    async with store:
        await store.execute("CREATE TABLE t (x BIGINT)")
    assert (tmp_path / "data" / "nested" / "agentrt.db").is_file()
    assert store.url_for_logs == f"sqlite:///{tmp_path}/data/nested/agentrt.db"


async def test_memory_stores_are_private_to_each_store() -> None:
    async with open_store("memory://") as one, open_store("sqlite:///:memory:") as two:
        await one.execute("CREATE TABLE t (x BIGINT)")
        assert await two.fetchone("SELECT COUNT(*) FROM sqlite_master WHERE name = 't'") == (0,)


async def test_the_event_loop_keeps_running_while_a_write_waits_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with open_store(f"sqlite:///{path}") as store:
        await store.execute("CREATE TABLE t (x BIGINT)")
        other_process = sqlite3.connect(path, isolation_level=None)  # stands for another process's writer
        other_process.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(store.execute("INSERT INTO t (x) VALUES (1)"))
        ticks = 0
        while ticks < 200:  # this task runs while the write waits, on the worker thread, for the lock
            await asyncio.sleep(0)
            assert not write.done(), "the write finished without waiting for the lock"
            ticks += 1
        other_process.execute("COMMIT")
        other_process.close()
        assert await write == 1
        assert await store.fetchone("SELECT COUNT(*) FROM t") == (1,)


async def test_a_lock_held_past_busy_timeout_is_a_retryable_store_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with open_store(f"sqlite:///{path}?busy_timeout=20") as store:
        await store.execute("CREATE TABLE t (x BIGINT)")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="busy_timeout") as caught:
                async with store.transaction() as tx:
                    await tx.execute("INSERT INTO t (x) VALUES (1)")
            assert caught.value.retryable
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        async with store.transaction() as tx:  # usable again once the lock is free
            await tx.execute("INSERT INTO t (x) VALUES (2)")
        assert await store.fetchall("SELECT x FROM t") == [(2,)]


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "not.db"
    path.write_bytes(b"this is not a SQLite database, it only looks like a file of one" * 20)
    store = open_store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match="cannot open the SQLite store"):
        await store.open()
    assert not store.is_open


def test_two_processes_migrating_one_file_at_once_apply_each_migration_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _go_and_wait(_workers("migrate", url)) == ["4", "4"]
    with sqlite3.connect(tmp_path / "shared.db") as conn:
        assert conn.execute("SELECT n FROM counter").fetchall() == [(1000,)]
        versions = conn.execute("SELECT version FROM agentrt_schema WHERE component = 'workers' ORDER BY 1")
        assert versions.fetchall() == [(1,), (2,), (3,), (4,)]


def test_two_processes_writing_one_file_lose_no_update(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _go_and_wait(_workers("migrate", url, count=1)) == ["4"]
    per_worker = 400
    assert _go_and_wait(_workers("increment", url, str(per_worker))) == ["done", "done"]
    with sqlite3.connect(tmp_path / "shared.db") as conn:
        # Each read-modify-write ran alone (BEGIN IMMEDIATE): not one increment was lost.
        assert conn.execute("SELECT n FROM counter").fetchone() == (1000 + 2 * per_worker,)
        counts = conn.execute("SELECT worker, COUNT(*) FROM increments GROUP BY worker ORDER BY worker").fetchall()
        assert counts == [("0", per_worker), ("1", per_worker)]


async def test_call_runs_a_function_on_the_worker_inside_or_outside_a_transaction(tmp_path: Path) -> None:
    def insert_many(conn: sqlite3.Connection, _sql: str, count: int) -> int:
        conn.executemany("INSERT INTO t (x) VALUES (?)", [(i,) for i in range(count)])
        return int(conn.execute("SELECT COUNT(*) FROM t").fetchone()[0])

    store = open_store(f"sqlite:///{tmp_path / 'call.db'}")
    assert isinstance(store, SQLiteStore)
    async with store:
        await store.execute("CREATE TABLE t (x BIGINT)")

        async def insert_then_fail() -> None:
            async with store.transaction():
                assert await store.call(insert_many, "insert", 3) == 3
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            await insert_then_fail()
        assert await store.fetchone("SELECT COUNT(*) FROM t") == (0,)  # it was part of the rolled-back transaction
        assert await store.call(insert_many, "insert", 2) == 2
        with pytest.raises(StoreError, match="in: insert"):
            await store.call(lambda conn, _sql: conn.execute("SELECT * FROM nowhere"), "insert")
    with pytest.raises(RuntimeStateError, match="closed store"):
        await store.call(insert_many, "insert", 1)
