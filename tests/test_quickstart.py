"""`make run` runs examples/quickstart: it must keep working offline, from a fresh copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart"


def test_the_quickstart_runs_offline_and_shuts_down_cleanly(tmp_path: Path) -> None:
    copy = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, copy, ignore=shutil.ignore_patterns("logs", "*.db*", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRT")}
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=copy, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "shut down cleanly" in result.stdout
    assert "Traceback" not in result.stderr
    assert (copy / "logs" / "agentrt.jsonl").stat().st_size > 0
    # The agent's model called the MCP server's tools; the refund waited for, and got, an approval.
    assert '"status": "delayed"' in result.stdout
    assert "approval asked: orders.refund_order" in result.stdout
    assert "refunded 39.50 on A-1002" in result.stdout
    assert "1 call approved by a person" in result.stdout
