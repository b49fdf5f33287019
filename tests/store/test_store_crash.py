"""A process killed with SIGKILL while it writes the ledger: every committed batch is intact, the file opens cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from store_workers import usage_row

from agentrt.store import UsageLedger, open_store

WORKERS = Path(__file__).with_name("store_workers.py")
COLUMNS = (
    "ts, request_id, user_name, tenant, api_key, model, provider, operation, input_tokens, output_tokens, "
    "cached_tokens, cost, latency, outcome, attempts"
)


def _rows_now(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM agentrt_usage").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def test_sigkill_mid_write_keeps_every_committed_row_intact(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    worker = subprocess.Popen(
        [sys.executable, str(WORKERS), "ledger", f"sqlite:///{path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 30
        seen = 0
        while seen < 2000:  # many batches committed, and the writer still busy
            assert worker.poll() is None, "the ledger worker died on its own"
            assert time.monotonic() < deadline, f"only {seen} rows were written in 30 s"
            time.sleep(0.01)
            seen = _rows_now(path)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = conn.execute(f"SELECT {COLUMNS} FROM agentrt_usage ORDER BY id").fetchall()
    # Every row seen before the kill is still there; batches commit in order, so the rows are
    # exactly the first N the worker recorded, each complete and equal to what was recorded.
    assert len(rows) >= seen
    for i, row in enumerate(rows):
        rec = usage_row(i)
        expected = (
            rec.ts, rec.request_id, rec.user, rec.tenant, rec.api_key, rec.model, rec.provider, rec.operation,
            rec.input_tokens, rec.output_tokens, rec.cached_tokens, rec.cost, rec.latency, rec.outcome, rec.attempts,
        )  # fmt: skip
        assert row == expected, f"row {i} differs"

    asyncio.run(_reopen_and_go_on(path, len(rows)))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM agentrt_usage").fetchone() == (len(rows) + 1,)


async def _reopen_and_go_on(path: Path, count: int) -> None:
    """The store opens the killed process's file cleanly, sums it, and the ledger goes on writing to it."""
    async with open_store(f"sqlite:///{path}") as store, UsageLedger(store) as ledger:
        (total,) = await ledger.query()
        assert total.calls == count
        assert total.input_tokens == sum(range(count))
        ledger.record(usage_row(count))
