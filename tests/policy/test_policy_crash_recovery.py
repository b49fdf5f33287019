"""After a SIGKILL, the next start writes the ledger and audit rows the dead process lost: ledger,
counters and audit trail agree (issue 10, item 6)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import yaml

from agentrt import Runtime
from agentrt.policy.backends._recovery import Recovered, recover

WORKER = Path(__file__).with_name("crash_worker.py")
# The worker of the known-breach test: one call, the ledger written, then blocked until killed.
LAG_WORKER = Path(__file__).parents[1] / "guarantees" / "audit_lag_worker.py"
CALLS = 30


def write_config(tmp_path: Path) -> Path:
    config = {
        "logging": {"level": "warning", "console": {"format": "off"}},
        "store": {"url": f"sqlite:///{tmp_path / 'agentrt.db'}"},
        "providers": {"offline": {"kind": "local"}},
        "models": {"m": {"provider": "offline", "max_output_tokens": 20, "pricing": {"input": 1.0, "output": 2.0}}},
        "policies": {
            "backend": "sqlite",
            "limits": [{"scope": "user", "rpm": 1000}],
            "budgets": [{"scope": "user", "period": "total", "max_tokens": 1_000_000}],
        },
        "observability": {"monitor": {"enabled": False}},
    }
    path = tmp_path / "agentrt.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_and_kill(config: Path) -> None:
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), str(config), str(CALLS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline().strip()
        errors = worker.stderr.read() if worker.stderr and line != "done" else ""
        assert line == "done", f"the worker did not finish its calls: {line!r} {errors}"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL


def counts(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        ledger = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT request_id), COALESCE(SUM(input_tokens + output_tokens), 0), "
            "SUM(CASE WHEN outcome = 'recovered' THEN 1 ELSE 0 END) FROM agentrt_usage"
        ).fetchone()
        used, reserved = conn.execute(
            "SELECT COALESCE(SUM(used_tokens), 0), COALESCE(SUM(reserved_tokens), 0) FROM agentrt_policy_budget"
        ).fetchone()
        unaudited = conn.execute(
            "SELECT COUNT(*) FROM agentrt_usage u WHERE NOT EXISTS "
            "(SELECT 1 FROM agentrt_audit a WHERE a.request_id = u.request_id AND a.decision = 'allow')"
        ).fetchone()[0]
        pending = conn.execute("SELECT COUNT(*) FROM agentrt_usage_pending").fetchone()[0]
    rows, distinct, tokens, recovered = ledger
    return {
        "rows": rows,
        "distinct": distinct,
        "tokens": tokens,
        "recovered": recovered or 0,
        "used": used,
        "reserved": reserved,
        "unaudited": unaudited,
        "pending": pending,
    }


async def test_a_restart_after_sigkill_writes_the_lost_rows_and_everything_agrees(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    run_and_kill(config)
    before = counts(tmp_path / "agentrt.db")
    assert before["rows"] < CALLS  # the kill lost ledger rows: what this test is about
    assert before["pending"] == CALLS - before["rows"]  # ... and the journal has each of them

    async with Runtime.open(config, plugins=False):
        pass
    after = counts(tmp_path / "agentrt.db")
    assert after["rows"] == after["distinct"] == CALLS  # one row per call, none twice
    assert after["recovered"] == CALLS - before["rows"]
    assert after["used"] == after["tokens"]  # the counters hold exactly what the ledger says
    assert after["reserved"] == 0  # a call in flight at the kill no longer holds budget
    assert after["unaudited"] == 0  # every call has its audit row
    assert after["pending"] == 0

    async with Runtime.open(config, plugins=False):  # a second start finds nothing more to do
        pass
    assert counts(tmp_path / "agentrt.db") == after


def test_a_written_deny_row_does_not_stand_in_for_the_lost_allow_row_of_a_recovered_call(tmp_path: Path) -> None:
    """A call refused on its first candidate (deny row written) and admitted on its fallback, whose process
    died before the allow row was written: recovery writes the allow row all the same."""
    db = tmp_path / "agentrt.db"

    async def migrate() -> None:
        async with Runtime.open(write_config(tmp_path), plugins=False):
            pass

    asyncio.run(migrate())
    dead = "nowhere|1|dead"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO agentrt_audit (ts, request_id, user_name, model, operation, decision, limit_name) "
            "VALUES (1.0, 'fell-back', 'alice', 'big', 'generate', 'deny', 'user budget')"
        )
        conn.execute(
            "INSERT INTO agentrt_usage_pending (rid, request_id, owner, ts, state, user_name, model, provider, "
            "operation, input_tokens, output_tokens, cost) "
            "VALUES ('h1', 'fell-back', ?, 2.0, 'settled', 'alice', 'm', 'offline', 'generate', 5, 7, 0)",
            (dead,),
        )
        done = recover(conn, "me", gone=lambda owner: owner == dead)
        decisions = conn.execute(
            "SELECT decision FROM agentrt_audit WHERE request_id = 'fell-back' ORDER BY id"
        ).fetchall()
    assert done == Recovered(settled=1, in_flight=0, audit_rows=1)
    assert decisions == [("deny",), ("allow",)]


def test_on_a_postgresql_store_with_redis_counters_a_sigkill_after_the_ledgers_write_keeps_the_audit_row(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """No journal there (no recovery), but the ledger's write carries the call's queued audit rows: the kill
    right after it (audit_lag_worker.py blocks before the audit trail's own timer) leaves both rows."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        settings = {
            "logging": {"level": "warning", "console": {"format": "off"}},
            "store": {"url": f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"},
            "providers": {"offline": {"kind": "local"}},
            "models": {"m": {"provider": "offline", "pricing": {"input": 1.0, "output": 2.0}}},
            "policies": {
                "backend": redis_url,
                "key_prefix": f"lag:{schema}:",
                "budgets": [{"scope": "user", "period": "total", "max_tokens": 100_000}],
            },
            "observability": {"monitor": {"enabled": False}},
        }
        path = tmp_path / "agentrt.yaml"
        path.write_text(yaml.safe_dump(settings), encoding="utf-8")
        worker = subprocess.Popen(
            [sys.executable, str(LAG_WORKER), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            assert line == "done", worker.stderr.read() if worker.stderr else line
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"SET search_path = {schema}")
            ledger = conn.execute("SELECT outcome FROM agentrt_usage WHERE request_id = 'audit-lag'").fetchall()
            audit = conn.execute("SELECT decision FROM agentrt_audit WHERE request_id = 'audit-lag'").fetchall()
        assert ledger == [("ok",)]
        assert audit == [("allow",)]
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
