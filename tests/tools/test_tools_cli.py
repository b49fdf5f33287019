"""``agentrt tools list`` and ``agentrt tools call``: the configured tools, tried by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_support import SUPPORT_TOOLS, write, write_config
from typer.testing import CliRunner

from agentrt.cli import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    write(tmp_path / "tools" / "support.py", SUPPORT_TOOLS)
    return write_config(
        tmp_path,
        {
            "logging": {"file": {"path": "log.jsonl"}},  # the console keeps its default: it must not reach stdout
            "tools": {
                "support": {"python": "tools/support.py", "exclude": ["refund"]},
                "calc": {"builtin": "calculator"},
            },
        },
    )


def test_list_shows_every_tool(config: Path) -> None:
    result = runner.invoke(app, ["tools", "list", "-c", str(config)])
    assert result.exit_code == 0, result.stderr
    for text in ("toolkit", "calc", "evaluate", "builtin", "support", "lookup_order", "python", "Look up an order."):
        assert text in result.stdout
    assert "refund" not in result.stdout  # excluded


def test_list_as_json(config: Path) -> None:
    result = runner.invoke(app, ["tools", "list", "--json", "-c", str(config)])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == ["calc.evaluate", "support.lookup_order"]
    assert rows[1]["source"] == "python"
    assert rows[1]["parameters"]["required"] == ["order_id"]


def test_call_prints_what_the_tool_returned(config: Path) -> None:
    result = runner.invoke(
        app, ["tools", "call", "calc.evaluate", "--args", '{"expression": "2**64"}', "-c", str(config)]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "18446744073709551616"
    result = runner.invoke(
        app, ["tools", "call", "support.lookup_order", "-a", '{"order_id": "Z-1"}', "--json", "-c", str(config)]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["text"] == '{"id":"Z-1","status":"shipped"}'


def test_a_failing_tool_exits_1_with_its_error(config: Path) -> None:
    result = runner.invoke(app, ["tools", "call", "calc.evaluate", "-a", '{"expression": "1/0"}', "-c", str(config)])
    assert result.exit_code == 1
    assert "division by zero" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["calc.nope"], "there is no tool 'calc.nope': the tools are calc.evaluate, support.lookup_order"),
        (["calc.evaluate", "--args", "{expression"], "--args is not valid JSON"),
        (["calc.evaluate", "--args", "[1]"], "--args must be a JSON object"),
        (["calc.evaluate", "--args", '{"expr": "1"}'], "expression"),
    ],
)
def test_mistakes_are_told_without_a_traceback(config: Path, argv: list[str], message: str) -> None:
    result = runner.invoke(app, ["tools", "call", *argv, "-c", str(config)])
    assert result.exit_code == 1
    assert message in " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in result.stdout + result.stderr


def test_no_tools_configured(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tools", "list", "-c", str(write_config(tmp_path, {}))])
    assert result.exit_code == 0
    assert "no tools are configured" in result.stdout
