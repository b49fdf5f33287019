"""`agentrt config schema` accepts what the loader accepts; `config validate` runs the start-up checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from agentrt.cli import app
from agentrt.config import load_config

runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    code, out, err = cli("config", "schema")
    assert code == 0, err
    loaded: dict[str, Any] = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def _errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _section_schema(schema: dict[str, Any], section: str) -> dict[str, Any]:
    """The schema an included file of ``section`` is checked with: that property's, with the shared $defs."""
    return {"$defs": schema["$defs"], **schema["properties"][section]}


def test_every_file_init_writes_validates_against_the_schema(schema: dict[str, Any], tmp_path: Path) -> None:
    code, _, err = cli("init", str(tmp_path / "proj"))
    assert code == 0, err
    main = yaml.safe_load((tmp_path / "proj" / "agentrt.yaml").read_text())
    assert _errors(schema, main) == []
    included = {key: value["include"] for key, value in main.items() if isinstance(value, dict) and "include" in value}
    assert set(included) == {"providers", "models", "policies"}
    for section, name in included.items():
        document = yaml.safe_load((tmp_path / "proj" / name).read_text())
        assert _errors(_section_schema(schema, section), document) == [], name


def test_variables_in_numeric_boolean_and_choice_fields_are_accepted(schema: dict[str, Any]) -> None:
    document = {
        "runtime": {"watch": "${WATCH:-false}", "shutdown_timeout": "${STOP_AFTER}"},
        "logging": {"level": "${LOG_LEVEL:-info}", "console": {"format": "${LOG_FORMAT}"}},
        "server": {"port": "${PORT:-8080}", "max_body": "${MAX_BODY}"},
        "providers": {"p": {"kind": "openai", "max_concurrency": "${CONCURRENCY}", "api_key": "${KEY}"}},
    }
    assert _errors(schema, document) == []


def test_what_the_schema_accepts_with_variables_the_loader_loads() -> None:
    loaded = load_config(
        {"server": {"port": "${PORT:-8080}"}, "runtime": {"watch": "${WATCH:-false}"}}, environ={"PORT": "9000"}
    )
    assert (loaded.config.server.port, loaded.config.runtime.watch) == (9000, False)


def test_the_schema_still_rejects_wrong_types_and_unknown_keys(schema: dict[str, Any]) -> None:
    assert _errors(schema, {"server": {"port": "eighty"}})
    assert _errors(schema, {"server": {"port": True}})
    assert _errors(schema, {"runtime": {"nme": "x"}})
    assert _errors(schema, {"providers": "${PROVIDERS}"})


def test_a_schema_key_is_accepted_by_the_schema_and_the_loader(schema: dict[str, Any], tmp_path: Path) -> None:
    document = {"$schema": "./agentrt.schema.json", "runtime": {"name": "x"}}
    assert _errors(schema, document) == []
    path = tmp_path / "agentrt.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    (tmp_path / "models.json").write_text(json.dumps({"$schema": "./models.schema.json"}), encoding="utf-8")
    path.write_text(json.dumps({**document, "models": {"include": "models.json"}}), encoding="utf-8")
    assert load_config(path, environ={}).config.runtime.name == "x"
    assert load_config(path, environ={}).config.models == {}


def test_includes_are_accepted_wherever_the_loader_takes_them(schema: dict[str, Any]) -> None:
    document = {
        "providers": {"openai": {"include": "openai.yaml"}},
        "models": {"include": "models.yaml"},
        "logging": {"file": {"include": "file.yaml"}},
    }
    assert _errors(schema, document) == []
    assert _errors(schema, {"models": {"include": 3}})


# --- config validate runs the checks that start runs -------------------------------------------


def _validate(tmp_path: Path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "agentrt.yaml"
    path.write_text(text, encoding="utf-8")
    return cli("config", "validate", str(path))


def test_validate_reports_every_start_failure_at_once_with_its_path(tmp_path: Path) -> None:
    code, _, err = _validate(
        tmp_path,
        """
providers:
  typo: {kind: opneai}
  ant: {kind: anthropic, options: {json_output: nope}}
  offline: {kind: local, options: {rules: [{match: "("}]}}
agents:
  helper: {class: "no_such_module_anywhere:Helper"}
""",
    )
    assert code == 1
    assert "providers.typo.kind" in err
    assert "unknown provider kind 'opneai'" in err
    assert "did you mean 'openai'?" in err
    assert "providers.ant.options.json_output" in err
    assert "providers.offline.options.rules" in err
    assert "agents.helper.class" in err
    assert "Traceback" not in err


def test_a_base_url_without_a_scheme_is_a_problem_not_a_bare_value_error(tmp_path: Path) -> None:
    code, _, err = _validate(tmp_path, "providers:\n  p: {kind: openai, base_url: example.com/v1}\n")
    assert code == 1
    assert "providers.p.base_url" in err
    assert "https://" in err


def test_a_base_url_with_credentials_and_an_api_key_is_refused_without_printing_them(tmp_path: Path) -> None:
    # Both become an Authorization header: the call would fail with aiohttp's ValueError and a traceback.
    code, out, err = _validate(
        tmp_path,
        "providers:\n  p: {kind: openai, api_key: sk-test-123456, base_url: 'https://alice:hunter2pw@example.com/v1'}\n",
    )
    assert code == 1
    assert "providers.p.base_url" in err
    assert "keep only one" in err
    assert "hunter2pw" not in out + err
    assert "Traceback" not in err


def test_credentials_in_a_base_url_alone_stay_valid_and_masked(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.yaml"
    path.write_text("providers:\n  p: {kind: openai, base_url: 'https://alice:hunter2pw@example.com/v1'}\n")
    assert cli("config", "validate", str(path))[0] == 0
    code, out, _ = cli("config", "show", str(path))
    assert code == 0
    assert "hunter2pw" not in out


def test_a_postgresql_store_with_the_default_policy_backend_is_a_problem(tmp_path: Path) -> None:
    code, _, err = _validate(tmp_path, "store: {url: 'postgresql://app:s3cretpw@db.internal/app'}\n")
    assert code == 1
    assert "policies.backend" in err
    assert "s3cretpw" not in err


def test_agent_classes_next_to_the_config_import_without_pythonpath(tmp_path: Path) -> None:
    (tmp_path / "myagents_h7.py").write_text(
        "from agentrt.agents import Agent\n\n"
        "class Echo(Agent[dict]):\n"
        "    async def handle(self, activity, ctx):\n"
        "        return activity.payload\n",
        encoding="utf-8",
    )
    code, out, err = _validate(tmp_path, "agents:\n  echo: {class: 'myagents_h7:Echo'}\n")
    assert code == 0, err
    assert "is valid" in out
    code, _, err = _validate(tmp_path, "agents:\n  echo: {class: 'myagents_h7:Missing'}\n")
    assert code == 1
    assert "agents.echo.class" in err


def test_credentials_in_the_base_url_and_an_authorization_header_are_refused(tmp_path: Path) -> None:
    code, out, err = _validate(
        tmp_path,
        "providers:\n  p:\n    kind: anthropic\n    base_url: 'https://alice:hunter2pw@example.com'\n"
        "    headers: {Authorization: 'Basic abcdefgh'}\n",
    )
    assert code == 1
    assert "keep only one" in err
    assert "hunter2pw" not in out + err
    assert "abcdefgh" not in out + err
