"""`agentrt run TYPE` and `agentrt agents list|state`, through typer, on a config file with a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from agents_support import missing_agent_services
from typer.testing import CliRunner

from agentrt.cli import agents_cmd

runner = CliRunner()


def make_app() -> typer.Typer:
    """The commands as the lead wires them into `agentrt`."""
    app = typer.Typer()
    app.command("run")(agents_cmd.run)
    app.add_typer(agents_cmd.app, name="agents")
    return app


@pytest.fixture(autouse=True)
def _agent_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the runtime registers the agents service itself, add it to the built-in list here."""
    import agentrt._builtin_services as builtins

    extra = missing_agent_services()
    original = builtins.builtin_services
    monkeypatch.setattr(builtins, "builtin_services", lambda: [*original(), *extra])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agentrt.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "logging": {"console": {"format": "off"}, "file": {"path": "log.jsonl"}},
                "store": {"url": "sqlite:///agents.db"},
                "providers": {"offline": {"kind": "local"}},
                "models": {"local-small": {"provider": "offline", "name": "echo", "aliases": ["default"]}},
                "agents": {
                    "support": {"class": "agents_support:Echoer", "model": "default", "durable": True},
                    "scratch": {"class": "agents_support:Echoer", "model": "default"},
                },
            }
        )
    )
    return path


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(make_app(), list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_run_asks_the_agent_and_prints_its_events_and_answer(config: Path) -> None:
    code, out, err = invoke("run", "support", "--id", "t-1", "--input", '{"text": "refund"}', "-c", str(config))
    assert code == 0, err
    assert json.loads(out) == {"reply": "echo: refund", "count": 1}
    assert "[t-1] status" in err
    assert "[t-1] result" in err
    assert '"status":"idle"' in err


def test_run_reads_plain_text_from_stdin_and_reuses_a_durable_agent(config: Path) -> None:
    assert invoke("run", "support", "--id", "t-2", "-i", "one", "-c", str(config))[0] == 0
    code, out, err = invoke("run", "support", "--id", "t-2", "-i", "-", "-p", "high", "-c", str(config), stdin="two\n")
    assert code == 0, err
    assert json.loads(out) == {"reply": "echo: two", "count": 2}  # the restored agent's state went on


def test_run_reports_a_failing_handler_without_a_traceback(config: Path) -> None:
    code, _, err = invoke("run", "scratch", "-i", '"fail"', "-c", str(config))
    assert code == 1
    assert "agent 'scratch' failed: ValueError: the echoer refuses" in err
    assert "Traceback" not in err


def test_run_refuses_a_bad_priority_and_an_unknown_type(config: Path) -> None:
    code, _, err = invoke("run", "support", "-p", "urgent", "-c", str(config))
    assert code == 2
    assert "unknown priority 'urgent'" in err
    code, _, err = invoke("run", "nope", "-c", str(config))
    assert code == 1
    assert "no agent type 'nope' is registered" in err


def test_agents_list_and_state_read_the_store_without_starting_agents(config: Path) -> None:
    code, out, _ = invoke("agents", "list", "-c", str(config))
    assert (code, out.strip()) == (0, "no durable agents in the store")
    invoke("run", "support", "--id", "t-3", "-i", "hello", "-c", str(config))
    code, out, err = invoke("agents", "list", "--json", "-c", str(config))
    assert code == 0, err
    [listed] = json.loads(out)
    assert {k: listed[k] for k in ("id", "type", "status", "waiting", "processed")} == {
        "id": "t-3",
        "type": "support",
        "status": "active",
        "waiting": 0,
        "processed": 1,
    }
    code, out, _ = invoke("agents", "list", "-c", str(config))
    assert "t-3" in out
    assert "support" in out
    code, out, _ = invoke("agents", "state", "t-3", "--json", "-c", str(config))
    assert code == 0
    assert json.loads(out)["state"] == {"count": 1, "seen": []}
    code, out, _ = invoke("agents", "state", "t-3", "-c", str(config))
    assert '"count": 1' in out
    code, _, err = invoke("agents", "state", "ghost", "-c", str(config))
    assert code == 1
    assert "no durable agent 'ghost'" in err


def test_agents_list_json_keeps_log_lines_off_stdout(tmp_path: Path) -> None:
    """A program reads `--json` from stdout: the store's debug lines must not land there (a fresh process,
    logging configured as by default)."""
    import subprocess
    import sys

    path = tmp_path / "agentrt.yaml"
    path.write_text(yaml.safe_dump({"logging": {"level": "debug"}, "store": {"url": "sqlite:///agents.db"}}))
    command = "from agentrt.cli._app import app; app()"
    for args in (["agents", "list", "--json"], ["agents", "state", "nobody", "--json"]):
        done = subprocess.run(
            [sys.executable, "-c", command, *args, "-c", str(path)], capture_output=True, text=True, timeout=60
        )
        if args[1] == "list":
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout) == []
        else:
            assert done.stdout == ""
        assert "store_opened" in done.stderr  # the log lines went to stderr


def test_agents_resume_marks_a_failed_agent_active(config: Path) -> None:
    import asyncio

    from agentrt.store import open_store

    invoke("run", "support", "--id", "t-4", "-i", "hello", "-c", str(config))

    async def mark_failed() -> None:
        async with open_store(f"sqlite:///{config.parent / 'agents.db'}") as store:
            await store.execute("UPDATE agentrt_agents SET status = 'failed', reason = 'restarts used up'")

    asyncio.run(mark_failed())
    code, out, _ = invoke("agents", "list", "--json", "-c", str(config))
    assert (json.loads(out)[0]["status"], json.loads(out)[0]["reason"]) == ("failed", "restarts used up")
    code, out, err = invoke("agents", "resume", "t-4", "-c", str(config))
    assert code == 0, err
    assert "agent 't-4' resumed" in out
    code, out, _ = invoke("agents", "list", "--json", "-c", str(config))
    assert json.loads(out)[0]["status"] == "active"
    code, _, err = invoke("agents", "resume", "t-4", "-c", str(config))
    assert code == 1
    assert "is active, not failed" in err
    code, _, err = invoke("agents", "resume", "ghost", "-c", str(config))
    assert code == 1
    assert "no durable agent 'ghost'" in err
