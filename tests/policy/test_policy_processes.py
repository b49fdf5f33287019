"""Several OS processes sharing one backend (Redis, or one SQLite file): limits hold across all of them,
the shared counters equal what the processes report, and a process killed with SIGKILL while holding
reservations leaves no budget reserved once its holds lapse.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrt.calls import Admission
from agentrt.calls.principal import Principal
from agentrt.errors import BudgetExceeded
from agentrt.policy import PolicyBackend, PolicyEngine
from agentrt.types import Usage

sys.path.insert(0, str(Path(__file__).parent))
import policy_worker

WORKER = Path(__file__).with_name("policy_worker.py")
PROCESSES = 4
ATTEMPTS = 2000


@pytest.fixture(params=["redis", "sqlite"])
def backend_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return f"redis|{request.getfixturevalue('redis_url')}|proc:{uuid.uuid4().hex[:8]}:"
    return f"sqlite|{tmp_path / 'shared.db'}"


def backend_of(spec: str) -> tuple[PolicyBackend, object]:
    kind, _, rest = spec.partition("|")
    if kind == "redis":
        from agentrt.policy.backends.redis import RedisBackend

        url, _, prefix = rest.partition("|")
        return RedisBackend(url, key_prefix=prefix), None
    from agentrt.policy.backends.sqlite import SqliteBackend
    from agentrt.store import open_store

    store = open_store(f"sqlite:///{rest}")
    return SqliteBackend(store), store


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


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def start_together(started: list[subprocess.Popen[str]]) -> None:
    for process in started:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line == "ready\n", process.stderr.read() if process.stderr else line
    for process in started:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()


async def counters(spec: str, principal: Principal) -> tuple[int, int, int]:
    """(requests in the rpm window, used tokens, reserved tokens) of ``principal`` as the shared backend holds them."""
    backend, store = backend_of(spec)
    if store is not None:
        await store.open()  # type: ignore[attr-defined]
    try:
        async with PolicyEngine(policy_worker.hammer_section(), backend) as engine:
            explanation = await engine.explain(principal, policy_worker.MODEL)
    finally:
        if store is not None:
            await store.close()  # type: ignore[attr-defined]
    budget = explanation.budgets[0]
    return explanation.limits[0].requests, budget.used_tokens, budget.reserved_tokens


async def test_four_processes_never_exceed_a_shared_rpm_limit_or_budget(
    backend_spec: str, processes: list[subprocess.Popen[str]]
) -> None:
    processes.extend(spawn("hammer", backend_spec, str(ATTEMPTS // PROCESSES), str(seed)) for seed in range(PROCESSES))
    start_together(processes)
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        reports.append(json.loads(out.splitlines()[-1]))
    total = {user: {key: sum(r[user][key] for r in reports) for key in reports[0][user]} for user in ("rate", "spend")}
    rate, spend = total["rate"], total["spend"]
    assert rate["attempts"] + spend["attempts"] == ATTEMPTS
    # 1,000 attempts each, from 4 processes at once: the rpm limit admits exactly its 300 calls ...
    assert rate["admitted"] == policy_worker.HAMMER_RPM
    assert rate["rate_limited"] == rate["attempts"] - policy_worker.HAMMER_RPM
    # ... and the budget exactly the 200 calls of 100 tokens it holds, not one more.
    assert spend["tokens"] == policy_worker.HAMMER_MAX_TOKENS
    assert spend["admitted"] == policy_worker.HAMMER_MAX_TOKENS // 100
    assert spend["over_budget"] == spend["attempts"] - spend["admitted"]
    # The shared counters are exactly the sums the processes report.
    assert await counters(backend_spec, policy_worker.RATE) == (rate["admitted"], rate["tokens"], 0)
    assert await counters(backend_spec, policy_worker.SPEND) == (spend["admitted"], spend["tokens"], 0)


async def test_holds_of_a_process_killed_with_sigkill_lapse_after_the_reservation_ttl(
    backend_spec: str, processes: list[subprocess.Popen[str]]
) -> None:
    holder = spawn("hold", backend_spec, "10")  # 10 x 100 tokens: the whole budget
    processes.append(holder)
    start_together([holder])
    assert holder.stdout is not None
    assert holder.stdout.readline() == "held\n"
    backend, store = backend_of(backend_spec)
    if store is not None:
        await store.open()  # type: ignore[attr-defined]
    try:
        async with PolicyEngine(policy_worker.hold_section(), backend) as engine:
            with pytest.raises(BudgetExceeded):
                await engine.admit(policy_worker_admission(1))
            holder.send_signal(signal.SIGKILL)
            assert holder.wait(timeout=10) == -signal.SIGKILL
            await asyncio.sleep(1.05)  # the holds were made with reservation_ttl=1s: let it pass
            explanation = await engine.explain(policy_worker.HOLDER, policy_worker.MODEL)
            assert (explanation.budgets[0].used_tokens, explanation.budgets[0].reserved_tokens) == (0, 0)
            reservation = await engine.admit(policy_worker_admission(policy_worker.HOLD_MAX_TOKENS))
            await engine.settle(reservation, Usage(500, 0), None)
    finally:
        if store is not None:
            await store.close()  # type: ignore[attr-defined]


def policy_worker_admission(tokens: int) -> Admission:
    return Admission(policy_worker.HOLDER, "generate", policy_worker.MODEL, tokens, 0)
