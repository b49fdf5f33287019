"""``agentrt policy check``: the rule, limits and budgets of a call, read from the configured backend."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import typer
from policy_support import ask
from typer.testing import CliRunner

from agentrt.calls.principal import Principal
from agentrt.cli import policy_cmd
from agentrt.config import load_config
from agentrt.models import ModelCatalog
from agentrt.policy import PolicyEngine
from agentrt.policy.service import open_backend
from agentrt.store import open_store
from agentrt.types import Usage

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(policy_cmd.app, name="policy")  # as the agentrt app mounts it

CONFIG = """
store: {url: "sqlite:///agentrt.db"}
providers: {offline: {kind: local}}
models:
  small: {provider: offline, name: small, pricing: {input: 1.0, output: 2.0}, aliases: [default]}
  free: {provider: offline, name: free}
policies:
  backend: sqlite
  rules:
    - {name: no-interns, effect: deny, match: {tenants: [interns]}, reason: "interns ask their lead"}
  limits:
    - {scope: user, rpm: 2, tpm: 10000}
  budgets:
    - {scope: tenant, period: month, max_cost: 1.0}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "agentrt.yaml"
    path.write_text(CONFIG)
    return path


def check(project: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["policy", "check", "--config", str(project), *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def spend(project: Path, user: str, calls: int) -> None:
    """Make ``calls`` settled calls for ``user`` of tenant acme, through the same store as the command."""

    async def run() -> None:
        config = load_config(project).config
        spec = ModelCatalog(config.models, config.providers).resolve("small")
        async with (
            open_store(config.store.url) as store,
            PolicyEngine(config.policies, open_backend(config.policies, store)) as engine,
        ):
            for _ in range(calls):
                reservation = await engine.admit(ask(Principal(user, "acme"), spec, 1000, 1000))
                await engine.settle(reservation, Usage(1000, 500), None)

    asyncio.run(run())


def test_check_shows_the_deciding_rule_the_limits_and_the_budgets_with_their_usage(project: Path) -> None:
    spend(project, "alice", 1)
    code, out, err = check(project, "--user", "alice", "--tenant", "acme", "--model", "default")
    assert code == 0, err
    assert "generate on model small (provider offline) for user alice, tenant acme" in out
    assert "rules: allowed by policies.default (allow; no rule matched)" in out
    assert "no-interns (deny): tenant 'acme' is not in tenants ['interns']" in out
    assert "user rpm=2 tpm=10000" in out
    assert "1/2" in out  # one request of two in the window
    assert "1500/10000" in out
    assert "tenant month max_cost=$1" in out
    assert "1500 tokens, $0.002000" in out  # 1000 in at $1/M + 500 out at $2/M
    assert "$0.998000" in out
    assert "sqlite backend: the counts of every process using the store" in out
    assert "would be admitted" in out


def test_check_exits_1_when_the_call_would_be_refused(project: Path) -> None:
    spend(project, "bob", 2)
    code, out, _ = check(project, "-u", "bob", "-t", "acme", "-m", "small")
    assert code == 1
    assert "refused" in out
    code, out, _ = check(project, "-u", "ian", "-t", "interns", "-m", "small", "--operation", "stream")
    assert code == 1
    assert "rules: denied by rule 'no-interns': interns ask their lead" in out
    code, out, _ = check(project, "-u", "carol", "-t", "acme", "-m", "free")
    assert code == 1
    assert "note: model 'free' has no known price" in out


def test_check_prints_json_for_machines(project: Path) -> None:
    code, out, err = check(project, "-u", "alice", "-t", "acme", "-m", "small", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["model"], data["allowed"], data["refused"]) == ("small", True, False)
    assert data["limits"][0]["requests_left"] == 2
    assert data["budgets"][0]["remaining_cost"] == 1.0
    assert "has no database yet" in data["counting"]  # nothing ran yet: the check did not create one
    assert not (project.parent / "agentrt.db").exists()


def test_check_reports_mistakes_without_a_traceback(project: Path) -> None:
    code, _, err = check(project, "-u", "alice", "-m", "nope")
    assert code == 1
    assert "nope" in err
    assert "Traceback" not in err
    code, _, err = check(project, "-u", "alice", "-m", "small", "--operation", "chat")
    assert code == 1
    assert "--operation 'chat' is not one of: generate, stream, embed, object" in err
