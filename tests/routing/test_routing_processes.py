"""A deployment's rpm holds exactly across 4 processes sharing a real Redis: never one call over, and never
one refused while the deployments had room (the served calls are exactly the sum of the limits)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from agentrt.policy.backends.redis import RedisBackend

sys.path.insert(0, str(Path(__file__).parent))
import routing_worker

WORKER = Path(__file__).with_name("routing_worker.py")
PROCESSES = 4
CALLS = 30  # each: 120 calls for 25 + 15 = 40 places, less the 4 warm-up calls


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def test_four_processes_never_pass_a_deployments_rpm_nor_are_refused_early(
    redis_url: str, tmp_path: Path
) -> None:
    prefix = f"routing:{uuid.uuid4().hex[:8]}:"
    workers = [spawn(redis_url, prefix, str(tmp_path / f"w{i}.db"), str(CALLS)) for i in range(PROCESSES)]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            assert line == "ready\n", worker.stderr.read() if worker.stderr else line
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            reports.append(json.loads(out.splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
    served = {label: sum(r["served"].get(label, 0) for r in reports) for label in ("a/local-a", "b/local-b")}
    refused = sum(sum(r["refused"].values()) for r in reports)
    warm_up = PROCESSES  # one call each before the race, counted by the windows too
    places = routing_worker.RPM["a"] + routing_worker.RPM["b"] - warm_up
    assert sum(served.values()) == places  # none refused while a deployment had room ...
    assert refused == PROCESSES * CALLS - places
    assert {name for r in reports for name in r["refused"]} == {"DeploymentBusy"}
    # ... and not one over: the shared windows hold exactly each deployment's rpm.
    backend = RedisBackend(redis_url, key_prefix=prefix)
    await backend.open()
    try:
        keys = ["deployment:m:a/local-a", "deployment:m:b/local-b"]
        snapshot = await backend.snapshot(keys, [], time.time())
    finally:
        await backend.close()
    assert snapshot.windows[keys[0]].requests == routing_worker.RPM["a"]
    assert snapshot.windows[keys[1]].requests == routing_worker.RPM["b"]
