"""``agentrt prompts list`` and ``agentrt prompts render``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentrt.cli import app

runner = CliRunner()

CONFIG = """\
prompts:
  triage:
    description: Sort a ticket
    inputs:
      ticket: {type: str, description: the text}
      tags: {type: list, items: str, default: []}
      priority: {type: int, default: 3}
    file: prompts/triage.j2
  hello:
    user: Hello!
"""

TEMPLATE = """\
{% block system %}
Priority scale 1-{{ priority }}.
{% endblock %}
{% block user %}
{{ ticket }}{% for t in tags %} #{{ t }}{% endfor %}
{% endblock %}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "triage.j2").write_text(TEMPLATE, encoding="utf-8")
    path = tmp_path / "agentrt.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_each_prompt_with_its_inputs(config: Path) -> None:
    code, out, err = cli("prompts", "list", "-c", str(config))
    assert code == 0, err
    assert "triage" in out
    assert "ticket*: str" in out
    assert "tags: list[str]" in out
    assert "Sort a ticket" in out
    code, out, _ = cli("prompts", "list", "-c", str(config), "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["triage"]["inputs"][0] == {
        "name": "ticket",
        "type": "str",
        "required": True,
        "default": None,
        "description": "the text",
    }
    assert rows["hello"]["inputs"] == []


def test_render_with_inputs_typed_from_the_declarations(config: Path) -> None:
    code, out, err = cli(
        "prompts", "render", "triage", "-c", str(config), "--input", "ticket=Late parcel",
        "--input", 'tags=["post", "eu"]', "--input", "priority=5",
    )  # fmt: skip
    assert code == 0, err
    assert out == "--- system ---\nPriority scale 1-5.\n\n--- user ---\nLate parcel #post #eu\n"
    code, out, err = cli("prompts", "render", "triage", "-c", str(config), "--inputs", '{"ticket": "x"}', "--json")
    assert code == 0, err
    assert json.loads(out)["messages"] == [
        {"role": "system", "content": "Priority scale 1-3."},
        {"role": "user", "content": "x"},
    ]


def test_render_errors_name_the_input_or_the_prompt(config: Path) -> None:
    code, _, err = cli("prompts", "render", "triage", "-c", str(config))
    assert code == 1
    assert "needs input 'ticket'" in err
    code, _, err = cli("prompts", "render", "triage", "-c", str(config), "-i", "ticket=x", "-i", "priority=high")
    assert code == 1
    assert "--input priority is declared int: give its value as JSON" in err
    code, _, err = cli("prompts", "render", "triage", "-c", str(config), "-i", "ticket")
    assert code == 1
    assert "is not KEY=VALUE" in err
    code, _, err = cli("prompts", "render", "triag", "-c", str(config))
    assert code == 1
    assert "unknown prompt 'triag' (did you mean 'triage'?)" in err
    code, _, err = cli("prompts", "render", "triage", "-c", str(config), "--inputs", "[1]")
    assert code == 1
    assert "--inputs must be a JSON object" in err


def test_a_broken_template_is_reported_with_its_file_line(config: Path) -> None:
    (config.parent / "prompts" / "triage.j2").write_text(
        "{% block user %}\n{{ ticket\n{% endblock %}", encoding="utf-8"
    )
    code, _, err = cli("prompts", "list", "-c", str(config))
    assert code == 1
    assert "prompts.triage.file" in err
    assert "triage.j2:" in err
    assert "template syntax error" in err
