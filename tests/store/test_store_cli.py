"""``agentrt usage``: the ledger as a table or JSON, from the store in the configuration."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agentrt.cli.usage_cmd import usage
from agentrt.store import UsageLedger, UsageRecord, open_store

NOW = time.time()
OLD = datetime(2026, 1, 15, 12, tzinfo=UTC).timestamp()

app = typer.Typer()
app.command("usage")(usage)
app.command("other")(lambda: None)  # two commands, so that "usage" is invoked by name as in agentrt
runner = CliRunner()


def write_rows(db: Path, records: list[UsageRecord]) -> None:
    async def write() -> None:
        async with open_store(f"sqlite:///{db}") as store, UsageLedger(store) as ledger:
            for record in records:
                ledger.record(record)

    asyncio.run(write())


def row(user: str, *, ts: float = NOW, cost: float | None = 0.5, outcome: str = "ok", tokens: int = 100) -> UsageRecord:
    return UsageRecord(
        ts=ts,
        user=user,
        tenant="acme" if user != "carol" else "beta",
        model="gpt-x",
        provider="openai",
        operation="generate",
        input_tokens=tokens,
        output_tokens=tokens // 2,
        cost=cost,
        outcome=outcome,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "agentrt.yaml").write_text("store:\n  url: sqlite:///var/usage.db\n")
    write_rows(
        tmp_path / "var" / "usage.db",
        [
            row("alice"),
            row("alice", outcome="ProviderTimeout", cost=0.0, tokens=0),
            row("bob", cost=None),
            row("carol", ts=OLD, cost=2.0),
        ],
    )
    return tmp_path / "agentrt.yaml"


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["usage", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_table_by_user_with_totals_and_unknown_cost(project: Path) -> None:
    code, out, err = cli("--by", "user", "--config", str(project))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "usage by user"
    alice = next(line for line in lines if "alice" in line)
    assert alice.split("│")[1:-1] == [
        " alice ",
        "     2 ",
        "        1 ",
        "          100 ",
        "            50 ",
        "     0.5000 ",
    ]
    assert "unknown" in next(line for line in lines if "bob" in line)
    assert "unknown" in next(line for line in lines if "total" in line)  # bob's call had no price


def test_json_for_machines(project: Path) -> None:
    code, out, err = cli("--by", "tenant", "--json", "-c", str(project))
    assert code == 0, err
    document = json.loads(out)
    assert document["by"] == "tenant"
    assert document["rows"] == [
        {"key": "acme", "calls": 3, "failures": 1, "input_tokens": 200, "output_tokens": 100, "cost": None},
        {"key": "beta", "calls": 1, "failures": 0, "input_tokens": 100, "output_tokens": 50, "cost": 2.0},
    ]
    assert document["total"]["calls"] == 4


def test_since_a_duration_and_until_a_date(project: Path) -> None:
    code, out, _ = cli("--since", "7d", "--json", "-c", str(project))
    assert code == 0
    assert json.loads(out)["total"]["calls"] == 3  # carol's old call is out
    code, out, _ = cli("--since", "2026-01-01", "--until", "2026-02-01", "--by", "user", "--json", "-c", str(project))
    assert code == 0
    document = json.loads(out)
    assert [r["key"] for r in document["rows"]] == ["carol"]
    assert document["since"] == "2026-01-01T00:00:00Z"


def test_filters_by_user_and_tenant(project: Path) -> None:
    _, out, _ = cli("--user", "alice", "--json", "-c", str(project))
    assert json.loads(out)["rows"] == [
        {"key": None, "calls": 2, "failures": 1, "input_tokens": 100, "output_tokens": 50, "cost": 0.5}
    ]
    _, out, _ = cli("--tenant", "beta", "--by", "model", "--json", "-c", str(project))
    assert [(r["key"], r["calls"]) for r in json.loads(out)["rows"]] == [("gpt-x", 1)]


def test_no_matching_calls_says_so(project: Path) -> None:
    code, out, _ = cli("--user", "nobody", "-c", str(project))
    assert code == 0
    assert out.strip() == "no calls recorded"


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    (tmp_path / "agentrt.yaml").write_text("store:\n  url: sqlite:///never.db\n")
    code, _, err = cli("-c", str(tmp_path / "agentrt.yaml"))
    assert code == 1
    assert "no usage recorded yet" in err
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "week"], "cannot group by 'week'"),
        (["--since", "last tuesday"], "--since 'last tuesday' is neither a duration nor a date"),
    ],
)
def test_bad_options_say_what_to_write(project: Path, args: list[str], message: str) -> None:
    code, _, err = cli(*args, "-c", str(project))
    assert code == 1
    assert message in " ".join(err.split())


def test_a_bad_store_url_is_a_configuration_problem(tmp_path: Path) -> None:
    (tmp_path / "agentrt.yaml").write_text("store:\n  url: sqlite:///x.db?journal=off\n")
    code, _, err = cli("-c", str(tmp_path / "agentrt.yaml"))
    assert code == 1
    assert "store.url" in err


def test_the_same_report_after_retention_pruned_the_old_rows(project: Path) -> None:
    from agentrt.store.retention import prune_ledger

    queries = [
        ("--by", "tenant", "--json"),
        ("--since", "2026-01-01", "--until", "2026-02-01", "--by", "user", "--json"),
        ("--by", "day", "--json"),
    ]
    before = [cli(*query, "-c", str(project))[1] for query in queries]

    async def prune() -> int:
        async with open_store(f"sqlite:///{project.parent / 'var' / 'usage.db'}") as store:
            return await prune_ledger(store, NOW - 86_400)

    assert asyncio.run(prune()) == 1  # carol's old call now lives in the daily rollup only
    assert [cli(*query, "-c", str(project))[1] for query in queries] == before
