"""Tool limits and cost budgets hold across OS processes sharing one backend (one SQLite file, or Redis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import tools_policy_worker as worker

WORKER = Path(__file__).with_name("tools_policy_worker.py")
PROCESSES = 3
ATTEMPTS_EACH = 120  # 60 searches and 60 paid calls a process: far more than the limit and the budget allow


@pytest.fixture(params=["redis", "sqlite"])
def backend_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return f"redis|{request.getfixturevalue('redis_url')}|tools:{uuid.uuid4().hex[:8]}:"
    return f"sqlite|{tmp_path / 'shared.db'}"


@pytest.fixture
def processes(backend_spec: str) -> Iterator[list[subprocess.Popen[str]]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    started = [
        subprocess.Popen(
            [sys.executable, str(WORKER), backend_spec, str(ATTEMPTS_EACH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_processes_never_exceed_a_shared_tool_rpm_or_cost_budget(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:  # every process is ready before any starts: they run at once
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line == "ready\n", process.stderr.read() if process.stderr else line
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        reports.append(json.loads(out.splitlines()[-1]))
    total = {key: sum(report[key] for report in reports) for key in reports[0]}
    assert total["searched"] == worker.RPM  # exactly the limit, never one over
    assert total["rate_limited"] == PROCESSES * ATTEMPTS_EACH // 2 - worker.RPM
    assert total["paid"] == round(worker.MAX_COST / worker.COST)  # 10 calls of $0.30 in $3.00
    assert total["over_budget"] == PROCESSES * ATTEMPTS_EACH // 2 - total["paid"]
