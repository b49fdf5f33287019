"""A durable agent's process is killed with SIGKILL mid-work; a new process loses nothing acknowledged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
SENT = 400


def write_config(tmp_path: Path) -> Path:
    config = {
        "runtime": {"name": "crash", "shutdown_timeout": "10s"},
        "logging": {"console": {"format": "off"}, "file": {"path": str(tmp_path / "log.jsonl")}},
        "store": {"url": "sqlite:///agentrt.db"},  # relative to the config file
        "agents": {
            "accountant": {
                "class": "agents_crash_worker:Accountant",
                "durable": True,
                "mailbox": {"size": 10000},
            }
        },
    }
    path = tmp_path / "agentrt.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(HERE / "agents_crash_worker.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_nothing_acknowledged_is_lost_when_the_process_is_killed(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    producer = worker("produce", str(config), str(SENT))
    acked: list[int] = []
    done: list[int] = []
    assert producer.stdout is not None
    try:
        for line in producer.stdout:
            word, _, number = line.strip().partition(" ")
            if word == "ack":
                acked.append(int(number))
            elif word == "done":
                done.append(int(number))
            # Kill while the agent is busy: some activities done, more acknowledged and waiting.
            if len(done) >= 20 and len(acked) - len(done) >= 150:  # 150 or more queued
                break
        else:
            raise AssertionError(f"the producer ended early: {producer.stderr.read() if producer.stderr else ''}")
        producer.send_signal(signal.SIGKILL)
        producer.wait(timeout=10)
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
    assert producer.returncode == -signal.SIGKILL
    assert len(done) < len(acked)  # there was a backlog to lose

    restorer = worker("restore", str(config))
    out, err = restorer.communicate(timeout=60)
    assert restorer.returncode == 0, err
    state = json.loads(out.strip().splitlines()[-1])
    entries: list[int] = state["entries"]
    assert set(acked) <= set(entries)  # every acknowledged activity was processed
    assert len(entries) == len(set(entries))  # and none twice: state and completion commit together
    # Of the activities waiting when the process died, only the one being processed is flagged redelivered.
    assert len(state["redelivered"]) == 1
    assert state["redelivered"][0] >= max(done)  # at or after the last one seen done (its save may not have)
    assert entries == sorted(entries)  # in the order they were accepted
    assert state["total"] == sum(entries)  # the state is consistent with what it recorded
    assert set(entries) <= set(range(1, SENT + 1))
    assert state["redelivered"], "the restored process redelivered the unfinished activities"
    assert set(state["redelivered"]).isdisjoint(done[:-1])  # only the unfinished came again
