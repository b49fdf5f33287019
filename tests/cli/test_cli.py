"""The agentrt command: init, config validate/show/schema, services, logs, --version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentrt import __version__
from agentrt.cli import app

runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    code, _, err = cli("init", str(tmp_path / "proj"))
    assert code == 0, err
    return tmp_path / "proj"


def test_version_from_the_installed_console_script() -> None:
    script = Path(sys.executable).parent / "agentrt"
    out = subprocess.run([str(script), "--version"], check=True, capture_output=True, text=True).stdout
    assert out.strip() == f"agentrt {__version__}"


def test_help_lists_the_commands() -> None:
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("init", "config", "services", "logs"):
        assert command in out


def test_init_writes_a_project_whose_sections_live_in_their_own_files(project: Path) -> None:
    assert sorted(p.name for p in project.iterdir()) == [
        ".gitignore",
        "agentrt.yaml",
        "models.yaml",
        "policies.yaml",
        "providers.yaml",
    ]
    assert "include: models.yaml" in (project / "agentrt.yaml").read_text()
    code, out, err = cli("config", "validate", str(project / "agentrt.yaml"))
    assert code == 0, err
    assert "is valid" in out
    assert "3 included file(s)" in out


def test_init_refuses_to_overwrite_without_force(project: Path) -> None:
    (project / "models.yaml").write_text("# mine\n")
    code, _, err = cli("init", str(project))
    assert code == 1
    assert "--force" in err
    assert (project / "models.yaml").read_text() == "# mine\n"
    code, _, _ = cli("init", str(project), "--force")
    assert code == 0
    assert (project / "models.yaml").read_text() != "# mine\n"


def test_validate_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.yaml"
    path.write_text(
        "runtime:\n"
        "  shutdown_timeout: forever\n"  # 1: bad duration
        "logging:\n"
        "  level: loud\n"  # 2: bad level
        "server:\n"
        "  port: 70000\n"  # 3: out of range
        "  colour: blue\n"  # 4: unknown key
        "models:\n"
        "  m: {provider: ghost}\n",  # 5: unknown provider
        encoding="utf-8",
    )
    code, out, err = cli("config", "validate", str(path))
    assert code == 1
    problems = [line for line in err.splitlines() if line.strip().startswith("-")]
    assert len(problems) == 5, err
    for line_no in (2, 4, 6, 7, 9):
        assert any(f"agentrt.yaml:{line_no}" in p for p in problems), (line_no, err)
    assert "Traceback" not in err + out


def test_validate_reads_the_path_from_the_option_or_the_environment(project: Path) -> None:
    config = str(project / "agentrt.yaml")
    assert cli("config", "validate", "--config", config)[0] == 0
    assert cli("config", "validate", env={"AGENTRT_CONFIG": config})[0] == 0


def test_validate_says_how_to_start_when_there_is_no_config(tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code, _, err = cli("config", "validate")
    finally:
        os.chdir(cwd)
    assert code == 1
    assert "agentrt.yaml" in err
    assert "agentrt init" in err


def test_show_applies_the_environment_and_masks_secrets(project: Path) -> None:
    providers = project / "providers.yaml"
    providers.write_text(
        providers.read_text() + "openai: {kind: openai, api_key: '${OPENAI_API_KEY}'}\n", encoding="utf-8"
    )
    secret = "sk-test-0123456789abcdefghijklmnop"
    code, out, err = cli(
        "config", "show", str(project / "agentrt.yaml"), "--env", "dev", env={"OPENAI_API_KEY": secret}
    )
    assert code == 0, err
    assert secret not in out + err
    assert "**********" in out
    assert "level: debug" in out  # the dev overlay
    code, out, _ = cli(
        "config", "show", str(project / "agentrt.yaml"), "--format", "json", env={"OPENAI_API_KEY": secret}
    )
    assert code == 0
    assert json.loads(out)["providers"]["openai"]["api_key"] == "**********"


def test_schema_is_json_schema_with_every_section(tmp_path: Path) -> None:
    code, out, _ = cli("config", "schema")
    assert code == 0
    schema = json.loads(out)
    for section in ("runtime", "logging", "store", "providers", "models", "policies", "agents", "server"):
        assert section in schema["properties"]
    target = tmp_path / "schema.json"
    assert cli("config", "schema", "--output", str(target))[0] == 0
    assert json.loads(target.read_text()) == schema


def test_services_boots_the_runtime_and_lists_services(project: Path) -> None:
    code, out, err = cli("services", "--config", str(project / "agentrt.yaml"))
    assert code == 0, err
    assert "config" in out
    assert "logging" in out
    assert "running" in out


def test_logs_prints_filtered_readable_lines(project: Path) -> None:
    config = str(project / "agentrt.yaml")
    assert cli("services", "--config", config)[0] == 0  # writes logs/agentrt.jsonl
    code, out, err = cli("logs", "--config", config)
    assert code == 0, err
    assert "runtime_started" in out
    assert "runtime_stopped" in out
    code, out, _ = cli("logs", "--config", config, "--grep", "event=runtime_stopped")
    assert code == 0
    assert "runtime_stopped" in out
    assert "runtime_started" not in out
    code, out, _ = cli("logs", "--config", config, "--level", "error")
    assert code == 0
    assert out.strip() == ""


def test_logs_rejects_a_malformed_grep(project: Path) -> None:
    code, _, err = cli("logs", "--config", str(project / "agentrt.yaml"), "--grep", "novalue")
    assert code != 0
    assert "KEY=VALUE" in err
