"""`agentrt serve` as a command: what it says when it cannot listen. (The load test runs it for real.)"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import yaml
from server_support import server_config
from typer.testing import CliRunner

from agentrt.cli.serve_cmd import serve
from agentrt.testing import FakeUpstream


async def test_a_taken_port_is_a_clear_error_and_status_1(up: FakeUpstream, tmp_path: Path) -> None:
    import typer

    config = tmp_path / "agentrt.yaml"
    config.write_text(yaml.safe_dump(server_config(up, tmp_path)))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = typer.Typer()
        app.command()(serve)
        # The command runs its own event loop (Runtime.run), so it runs in a thread, not in this test's loop.
        result = await asyncio.to_thread(CliRunner().invoke, app, ["--config", str(config), "--port", str(port)])
    assert result.exit_code == 1
    assert "cannot listen" in result.output
    assert "--port" in result.output
