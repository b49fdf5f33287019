"""agentrt generate, chat, models list, providers list/check against a real loopback upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agentrt.cli import app
from agentrt.testing import FakeUpstream, Fault, Reply

runner = CliRunner()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread(api_key="sk-cli-test-0123456789") as up:
        yield up


@pytest.fixture
def config(tmp_path: Path, upstream: FakeUpstream) -> Path:
    path = tmp_path / "agentrt.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "logging": {"file": {"path": "log.jsonl"}},  # the console keeps its default, logfmt
                "providers": {
                    "oai": {
                        "kind": "openai",
                        "api_key": "${CLI_TEST_KEY}",
                        "base_url": upstream.openai_base_url,
                        "retry": {"attempts": 1},
                    },
                    "offline": {"kind": "local"},
                },
                "models": {
                    "gpt-cli": {"provider": "oai", "pricing": {"input": 1.0, "output": 2.0}, "aliases": ["default"]},
                    "local": {"provider": "offline", "capabilities": ["chat", "streaming"]},
                },
            }
        ),
        encoding="utf-8",
    )
    return path


ENV = {"CLI_TEST_KEY": "sk-cli-test-0123456789"}


def test_generate_prints_the_answer_and_a_usage_line(config: Path, upstream: FakeUpstream) -> None:
    upstream.script(Reply(text="Bonjour le monde", usage=(7, 3)))
    result = runner.invoke(app, ["generate", "default", "say hello", "-c", str(config), "-u", "alice"], env=ENV)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "Bonjour le monde"
    assert "7 in / 3 out" in result.stderr
    assert "event=model_call" not in result.stderr  # the answer owns the terminal; the log file has it
    assert upstream.requests[-1].stream  # streamed by default


def test_generate_json_and_stdin_prompt(config: Path, upstream: FakeUpstream) -> None:
    upstream.script(Reply(text="42", usage=(5, 1)))
    result = runner.invoke(app, ["generate", "gpt-cli", "-", "--json", "-c", str(config)], input="the answer?", env=ENV)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"] == "42"
    assert data["usage"]["input_tokens"] == 5
    assert data["cost"] == pytest.approx((5 * 1.0 + 1 * 2.0) / 1e6)
    assert upstream.requests[-1].body["messages"][-1]["content"] == "the answer?"


def test_generate_reports_a_failed_call_without_a_traceback_or_the_key(config: Path, upstream: FakeUpstream) -> None:
    upstream.script(Fault(status=401, message="invalid key"))
    result = runner.invoke(app, ["generate", "gpt-cli", "hi", "--no-stream", "-c", str(config)], env=ENV)
    assert result.exit_code == 1
    assert "invalid key" in result.stderr
    assert "Traceback" not in result.stderr
    assert ENV["CLI_TEST_KEY"] not in result.stderr + result.stdout


def test_chat_keeps_the_conversation_until_an_empty_line(config: Path, upstream: FakeUpstream) -> None:
    upstream.script(Reply(text="Hi Ann."), Reply(text="You are Ann."))
    result = runner.invoke(app, ["chat", "gpt-cli", "-c", str(config)], input="I am Ann\nwho am I?\n\n", env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "Hi Ann." in result.stdout
    assert "You are Ann." in result.stdout
    roles = [m["role"] for m in upstream.requests[-1].body["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_models_list_as_json(config: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--json", "-c", str(config)], env=ENV)
    assert result.exit_code == 0, result.stderr
    models = {m["model"]: m for m in json.loads(result.stdout)}
    assert models["gpt-cli"]["pricing"] == {"input": 1.0, "output": 2.0}
    assert models["gpt-cli"]["aliases"] == ["default"]
    assert models["local"]["capabilities"] == ["chat", "streaming"]


def test_providers_list_never_shows_the_key(config: Path) -> None:
    result = runner.invoke(app, ["providers", "list", "-c", str(config)], env=ENV)
    assert result.exit_code == 0, result.stderr
    assert "oai" in result.stdout
    assert "offline" in result.stdout
    assert ENV["CLI_TEST_KEY"] not in result.stdout


def test_providers_check_reports_each_provider_and_fails_on_a_bad_key(config: Path) -> None:
    good = runner.invoke(app, ["providers", "check", "-c", str(config)], env=ENV)
    assert good.exit_code == 0, good.stdout + good.stderr
    assert "ok  oai" in good.stdout
    assert "ok  offline" in good.stdout
    bad = runner.invoke(app, ["providers", "check", "-c", str(config)], env={"CLI_TEST_KEY": "sk-wrong-key-000000000"})
    assert bad.exit_code == 1
    assert "failed  oai" in bad.stdout
    assert "sk-wrong-key" not in bad.stdout
