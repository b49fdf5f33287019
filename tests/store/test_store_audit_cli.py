"""``agentrt audit``: the audit trail, filtered like ``agentrt usage``, as a table or JSON lines."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentrt.cli._app import app
from agentrt.store import AuditRecord, AuditTrail, open_store

NOW = time.time()
runner = CliRunner()


def write_decisions(db: Path, records: list[AuditRecord]) -> None:
    async def write() -> None:
        async with open_store(f"sqlite:///{db}") as store, AuditTrail(store) as trail:
            for record in records:
                trail.record(record)

    asyncio.run(write())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "agentrt.yaml").write_text("store:\n  url: sqlite:///var/agentrt.db\n")
    write_decisions(
        tmp_path / "var" / "agentrt.db",
        [
            AuditRecord(
                ts=NOW - 3 * 86400, request_id="r-old", user="alice", tenant="acme", model="m", decision="allow"
            ),
            AuditRecord(ts=NOW - 60, request_id="r-1", user="alice", tenant="acme", model="m", decision="allow"),
            AuditRecord(
                ts=NOW - 30,
                request_id="r-2",
                user="bob",
                tenant="globex",
                model="big",
                decision="deny",
                rule="no-big",
                reason="interns use the small models",
            ),
        ],
    )
    return tmp_path / "agentrt.yaml"


def run(project: Path, *args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["audit", "--config", str(project), "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_audit_lists_decisions_newest_first(project: Path) -> None:
    rows = run(project)
    assert [row["request_id"] for row in rows] == ["r-2", "r-1", "r-old"]
    assert rows[0]["rule"] == "no-big"
    assert rows[0]["reason"] == "interns use the small models"


def test_audit_filters_like_usage(project: Path) -> None:
    assert [row["request_id"] for row in run(project, "--since", "1d")] == ["r-2", "r-1"]
    assert [row["request_id"] for row in run(project, "--until", "1d")] == ["r-old"]
    assert [row["request_id"] for row in run(project, "--decision", "deny")] == ["r-2"]
    assert [row["request_id"] for row in run(project, "--user", "alice", "--limit", "1")] == ["r-1"]
    assert [row["request_id"] for row in run(project, "--tenant", "globex")] == ["r-2"]
    assert [row["request_id"] for row in run(project, "--model", "m", "--since", "1d")] == ["r-1"]
    assert [row["request_id"] for row in run(project, "--request-id", "r-old")] == ["r-old"]


def test_audit_prints_a_table(project: Path) -> None:
    result = runner.invoke(app, ["audit", "--config", str(project)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "no-big" in result.output
    assert "r-2" in result.output


def test_audit_refuses_an_unknown_decision(project: Path) -> None:
    result = runner.invoke(app, ["audit", "--config", str(project), "--decision", "maybe"])
    assert result.exit_code != 0
    assert "use --decision allow or --decision deny" in result.output


def test_audit_without_a_database_says_so(tmp_path: Path) -> None:
    (tmp_path / "agentrt.yaml").write_text("store:\n  url: sqlite:///var/none.db\n")
    result = runner.invoke(app, ["audit", "--config", str(tmp_path / "agentrt.yaml")])
    assert result.exit_code != 0
    assert "no decisions recorded yet" in result.output
    assert not (tmp_path / "var" / "none.db").exists()
