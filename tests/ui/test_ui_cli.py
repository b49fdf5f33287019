"""``agentrt dashboard``: finds a running server's /ui (from --url or the config) and opens it."""

from __future__ import annotations

import asyncio
import socket
import webbrowser
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner
from ui_pages_support import dashboard_served

from agentrt.cli._app import app
from agentrt.cli.dashboard_cmd import dashboard_url
from agentrt.testing import FakeUpstream


def test_dashboard_urls() -> None:
    assert dashboard_url("127.0.0.1:8080") == "http://127.0.0.1:8080/ui"
    assert dashboard_url("https://gw.example/ ") == "https://gw.example/ui"
    assert dashboard_url("http://h:1/ui/") == "http://h:1/ui"


async def test_it_opens_the_dashboard_of_a_running_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    async with FakeUpstream() as up, dashboard_served(up, tmp_path) as served:
        result = await asyncio.to_thread(CliRunner().invoke, app, ["dashboard", "--url", served.url])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == served.url + "/ui"
        assert opened == [served.url + "/ui"]
        # From the config: server.host and server.port, with a wildcard host opened on loopback.
        port = int(served.url.rsplit(":", 1)[1])
        config = tmp_path / "agentrt.yaml"
        config.write_text(yaml.safe_dump({"server": {"host": "0.0.0.0", "port": port}}))
        result = await asyncio.to_thread(CliRunner().invoke, app, ["dashboard", "--no-open", "-c", str(config)])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"http://127.0.0.1:{port}/ui"
        assert len(opened) == 1


def test_no_server_there_is_a_sentence_and_exit_1() -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(app, ["dashboard", "--no-open", "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert "no agentrt server answers at" in result.output
    assert "agentrt serve" in result.output


async def test_a_server_without_the_dashboard_is_told_apart(tmp_path: Path) -> None:
    from ui_pages_support import server_config

    async with FakeUpstream() as up:
        server = server_config(up, tmp_path)["server"]
        async with dashboard_served(up, tmp_path, server={**server, "ui": {"enabled": False}}) as served:
            result = await asyncio.to_thread(CliRunner().invoke, app, ["dashboard", "--no-open", "--url", served.url])
    assert result.exit_code == 1
    assert "has no dashboard" in result.output
