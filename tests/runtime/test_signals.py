"""Runtime.run with real signals delivered to a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from collections.abc import AsyncIterator
    from agentrt import Config, Runtime
    from agentrt.services import service

    MODE = sys.argv[1]

    class Slow:
        pass

    @service
    async def slow_to_stop(config: Config) -> AsyncIterator[Slow]:
        yield Slow()
        print("stopping-services", flush=True)
        await asyncio.sleep(60 if MODE == "hang-on-stop" else 0)
        print("service-stopped", flush=True)

    async def main(rt: Runtime) -> str:
        await rt.services.add(slow_to_stop)
        print("ready", flush=True)
        if MODE == "ignore-shutdown":
            await asyncio.sleep(60)
            return "finished"
        if MODE == "block-loop":
            for _ in range(600):  # a main that never yields to the event loop
                time.sleep(0.1)
            return "finished"
        await rt.shutdown_requested.wait()
        print("draining", flush=True)
        return "drained"

    result = Runtime.run(main, sys.argv[2], env=None)
    print(f"result={result}", flush=True)
    """
)


def start(tmp_path: Path, mode: str, *, shutdown_timeout: str = "5s") -> subprocess.Popen[str]:
    config = tmp_path / "agentrt.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            runtime: {{name: signals, shutdown_timeout: {shutdown_timeout}}}
            logging:
              console: {{format: "off"}}
              file: {{path: {tmp_path / "log.jsonl"}}}
            """
        ),
        encoding="utf-8",
    )
    script = tmp_path / "app.py"
    script.write_text(SCRIPT, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("AGENTRT")},
    )
    wait_for_line(proc, "ready")
    return proc


def wait_for_line(proc: subprocess.Popen[str], expected: str, timeout: float = 20.0) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip() == expected:
            return
    proc.kill()
    raise AssertionError(f"never printed {expected!r}; stderr: {proc.stderr.read() if proc.stderr else ''}")


def log_events(tmp_path: Path) -> list[str]:
    lines = (tmp_path / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["event"] for line in lines]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_main_stops_services_and_exits_cleanly(tmp_path: Path, signum: int) -> None:
    proc = start(tmp_path, "drain")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.splitlines() == ["draining", "stopping-services", "service-stopped", "result=drained"]
    events = log_events(tmp_path)
    assert events.index("shutdown_requested") < events.index("runtime_stopped")


def test_main_that_ignores_shutdown_is_cancelled_after_the_timeout(tmp_path: Path) -> None:
    proc = start(tmp_path, "ignore-shutdown", shutdown_timeout="300ms")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "result=None"
    assert "main_cancelled" in log_events(tmp_path)


def test_a_second_signal_forces_the_exit_while_services_hang(tmp_path: Path) -> None:
    proc = start(tmp_path, "hang-on-stop", shutdown_timeout="60s")
    proc.send_signal(signal.SIGTERM)
    wait_for_line(proc, "stopping-services")
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert time.monotonic() - started < 15  # far below the 60 s the hanging cleanup would take
    events = log_events(tmp_path)
    assert "shutdown_forced" in events  # the log sink was flushed before the forced exit


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_ends_a_main_that_blocks_the_event_loop(tmp_path: Path, signum: int) -> None:
    proc = start(tmp_path, "block-loop", shutdown_timeout="60s")
    proc.send_signal(signum)
    time.sleep(0.3)
    assert proc.poll() is None  # the first signal asks politely: main may still finish on its own
    started = time.monotonic()
    proc.send_signal(signum)
    try:
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert time.monotonic() - started < 5
    assert "result=" not in out
    events = log_events(tmp_path)
    assert "shutdown_forced" in events


def test_sighup_reloads_the_configuration(tmp_path: Path) -> None:
    proc = start(tmp_path, "drain")
    config = tmp_path / "agentrt.yaml"
    config.write_text(config.read_text().replace("name: signals", "name: renamed"), encoding="utf-8")
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "config_reloaded" not in _events_if_any(tmp_path):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "config_reloaded" in log_events(tmp_path)


def _events_if_any(tmp_path: Path) -> list[str]:
    # The writer thread may be mid-line; only complete lines count.
    try:
        text = (tmp_path / "log.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line)["event"] for line in text.splitlines() if line.endswith("}")]
