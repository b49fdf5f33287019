"""`agentrt serve --workers N`: N processes on one port, a dead one replaced, SIGTERM drains them all.

Each test runs the real command in a subprocess (the supervisor), which starts
real worker processes; a FakeUpstream in this process is their provider. The
supervisor's and the workers' JSON log lines (stderr) tell the test what
happened: the URL, each worker's pid, deaths and restarts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from server_support import USER_KEY, auth, server_config

from agentrt.config import Config
from agentrt.server.workers import worker_log_path, worker_problems
from agentrt.testing import FakeUpstream, Reply

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="workers use POSIX signals and fd passing")


class Supervised:
    """``agentrt serve --workers N`` in a subprocess, with its JSON log lines collected."""

    def __init__(self, config: Path, *args: str) -> None:
        command = [sys.executable, "-c", "from agentrt.cli import main; main()", "serve", "-c", str(config)]
        self.process = subprocess.Popen(
            # A session of its own, like a command started in a terminal: its process group can get a Ctrl-C.
            [*command, "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            with self._changed:
                try:
                    self.events.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    self.other.append(raw.decode(errors="replace"))
                self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self.events)

    def wait_for(self, event: str, timeout: float = 30.0, after: int = 0, **fields: Any) -> dict[str, Any]:
        """The first log line ``event`` (after line number ``after``) whose fields include ``fields``;
        fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for found in self.events[after:]:
                    if found.get("event") == event and all(found.get(k) == v for k, v in fields.items()):
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._changed.wait(0.2)):
                    seen = [e.get("event") for e in self.events]
                    raise AssertionError(f"no {event} {fields} within {timeout}s; saw {seen} {self.other[-5:]}")
                self._changed.wait(min(left, 0.2))

    def pids(self) -> dict[int, int]:
        """Worker number -> pid of the last start of each."""
        with self._changed:
            return {e["worker"]: e["pid"] for e in self.events if e.get("event") == "worker_started"}

    @property
    def url(self) -> str:
        return str(self.wait_for("workers_listening")["url"])

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream.in_thread() as up:
        yield up


@pytest.fixture
def start(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Callable[..., Supervised]]:
    started: list[Supervised] = []

    def run(*args: str, **overrides: Any) -> Supervised:
        config = server_config(upstream, tmp_path, **overrides)
        config["logging"]["console"] = {"format": "json", "stream": "stderr"}
        path = tmp_path / "agentrt.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        supervised = Supervised(path, *args)
        started.append(supervised)
        return supervised

    yield run
    for supervised in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            supervised.stop()
        if supervised.process.poll() is None:
            supervised.process.kill()
        for pid in supervised.pids().values():  # never leave a worker behind, whatever failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def served_by(url: str, path: str = "/healthz", **kwargs: Any) -> int:
    """The pid of the worker that answered a request on a fresh connection."""
    with httpx.Client(timeout=10) as client:
        response = client.get(url + path, **kwargs)
    assert response.status_code == 200, response.text
    number, _, pid = response.headers["X-Agentrt-Worker"].partition("/")
    assert number.isdigit()
    return int(pid)


def distinct_pids(url: str, want: int, tries: int = 200) -> set[int]:
    seen: set[int] = set()
    for _ in range(tries):
        seen.add(served_by(url))
        if len(seen) >= want:
            break
    return seen


@pytest.mark.parametrize("sharing", ["reuseport", "socket"])
def test_two_workers_answer_on_one_port(start: Callable[..., Supervised], sharing: str) -> None:
    supervised = start("--workers", "2", "--port-sharing", sharing)
    url = supervised.url
    pids = supervised.pids()
    assert sorted(pids) == [1, 2]
    assert len(set(pids.values())) == 2
    seen = distinct_pids(url, 2)
    assert seen == set(pids.values()), "each worker answers on the one port"
    # A real call through a worker: the provider, the policy (sqlite, shared) and the ledger all work.
    with httpx.Client(timeout=10) as client:
        body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
        response = client.post(url + "/v1/chat/completions", json=body, headers=auth(USER_KEY))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert supervised.stop() == 0


def test_a_killed_worker_is_replaced_and_sighup_reaches_every_worker(
    start: Callable[..., Supervised], tmp_path: Path
) -> None:
    supervised = start("--workers", "2")
    url = supervised.url
    first = supervised.pids()
    mark = supervised.mark()
    os.kill(first[1], signal.SIGKILL)
    died = supervised.wait_for("worker_died", worker=1)
    assert died["pid"] == first[1]
    assert died["restart_in"] == 0.5
    ready = supervised.wait_for("worker_ready", worker=1, timeout=30, after=mark)
    assert ready["pid"] != first[1]
    assert distinct_pids(url, 2) == {ready["pid"], first[2]}
    # The dashboard's session secret (unset in the config) is one for all, the replacement included.
    if Path("/proc/self/environ").exists():  # Linux: read what each worker was given
        secrets = {_environ(pid).get("AGENTRT__SERVER__UI__SECRET") for pid in (ready["pid"], first[2])}
        assert len(secrets) == 1
        assert len(secrets.pop() or "") == 64
    mark = supervised.mark()
    supervised.process.send_signal(signal.SIGHUP)  # passed on: every worker reloads
    supervised.wait_for("workers_reloading", after=mark)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(_events(supervised, "config_reload_unchanged", mark)) < 2:
        time.sleep(0.05)
    assert len(_events(supervised, "config_reload_unchanged", mark)) == 2
    assert supervised.stop() == 0
    assert worker_log_path(tmp_path / "log.jsonl", 1).exists()  # each worker its own log file
    assert worker_log_path(tmp_path / "log.jsonl", 2).exists()


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


def _events(supervised: Supervised, event: str, after: int) -> list[dict[str, Any]]:
    return [found for found in supervised.events[after:] if found.get("event") == event]


def test_sigterm_drains_every_worker_and_lets_a_slow_call_finish(
    start: Callable[..., Supervised], upstream: FakeUpstream
) -> None:
    supervised = start("--workers", "2")
    url = supervised.url
    upstream.script(Reply(text="slow answer", delay=2.0))
    outcome: dict[str, Any] = {}

    def slow_call() -> None:
        body = {"model": "default", "messages": [{"role": "user", "content": "take your time"}]}
        with httpx.Client(timeout=30) as client:
            response = client.post(url + "/v1/chat/completions", json=body, headers=auth(USER_KEY))
        outcome["status"] = response.status_code
        outcome["text"] = response.json()["choices"][0]["message"]["content"]
        outcome["worker"] = response.headers["X-Agentrt-Worker"]

    caller = threading.Thread(target=slow_call)
    caller.start()
    deadline = time.monotonic() + 10
    while not upstream.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.requests, "the call reached the provider"
    sent = time.monotonic()
    supervised.process.send_signal(signal.SIGTERM)
    caller.join(30)
    assert outcome == {"status": 200, "text": "slow answer", "worker": outcome["worker"]}
    assert supervised.process.wait(30) == 0
    assert time.monotonic() - sent >= 1.0  # the supervisor waited for the drain
    assert supervised.wait_for("workers_draining")["signal"] == "SIGTERM"
    stopped = [e for e in supervised.events if e.get("event") == "worker_stopped"]
    assert sorted(e["worker"] for e in stopped) == [1, 2]
    assert all(e["status"] == 0 for e in stopped)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2)


def test_ctrl_c_in_a_terminal_drains_the_workers_once(start: Callable[..., Supervised]) -> None:
    supervised = start("--workers", "2")
    supervised.wait_for("workers_listening")
    os.killpg(supervised.process.pid, signal.SIGINT)  # what a terminal sends to its foreground group
    assert supervised.process.wait(30) == 0
    assert supervised.wait_for("workers_draining")["signal"] == "SIGINT"
    forced = [e["event"] for e in supervised.events if e.get("event") in ("workers_forced", "shutdown_forced")]
    assert forced == [], "the workers got the stop once: from the supervisor, not also from the terminal"


def test_workers_exit_when_the_supervisor_is_killed(start: Callable[..., Supervised]) -> None:
    supervised = start("--workers", "2")
    supervised.wait_for("workers_listening")
    pids = list(supervised.pids().values())
    supervised.process.kill()
    deadline = time.monotonic() + 20
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in pids if _alive(pid)]
    assert not alive, "orphaned workers shut themselves down"


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # not our child: raises ChildProcessError
    except ChildProcessError:
        waited = 0
    if waited:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


CRASH_LOOP = """\
import os, sys
from agentrt.config import load_config
from agentrt.server.workers import WorkerSupervisor

loaded = load_config(sys.argv[1])
# Only the workers see the bad variable: they die before they listen, every time.
env = dict(os.environ, AGENTRT__LOGGING__LEVEL="loud")
sys.exit(WorkerSupervisor(loaded, workers=2, port=0, environ=env, backoff=(0.05, 0.2)).run())
"""


def test_a_worker_that_never_starts_ends_the_supervisor_with_status_1(tmp_path: Path, upstream: FakeUpstream) -> None:
    path = tmp_path / "agentrt.yaml"
    path.write_text(yaml.safe_dump(server_config(upstream, tmp_path)), encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CRASH_LOOP, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "AGENTRT__LOGGING__LEVEL" in done.stderr  # each worker said why it could not start
    assert "worker_crash_loop" in done.stdout
    assert done.stdout.count("worker_started") >= 5
    assert time.monotonic() - started < 120


@pytest.mark.parametrize(
    ("overrides", "named", "remedy"),
    [
        ({"policies": {"backend": "memory"}}, "policies.backend", "Use sqlite"),
        ({"store": {"url": "memory://"}}, "store.url", "Use a sqlite:/// file"),
    ],
)
def test_state_in_memory_is_refused_with_more_than_one_worker(
    start: Callable[..., Supervised], overrides: dict[str, Any], named: str, remedy: str
) -> None:
    supervised = start("--workers", "2", **overrides)
    assert supervised.process.wait(30) == 1
    text = "".join(supervised.other)
    assert named in text
    assert remedy in text
    assert "redis://" in text or "postgresql://" in text
    assert not supervised.pids(), "no worker was started"


def test_worker_problems_name_every_shared_state_that_lives_in_memory() -> None:
    config = Config.model_validate(
        {
            "policies": {"backend": "memory"},
            "store": {"url": "memory://"},
            "cache": {"enabled": True, "backend": "memory"},
        }
    )
    assert worker_problems(config, 1) == []
    paths = [problem.path for problem in worker_problems(config, 2)]
    assert paths == ["policies.backend", "store.url", "cache.backend"]
    fine = Config.model_validate({"policies": {"backend": "redis://127.0.0.1:6379/0"}})
    assert worker_problems(fine, 4) == []
    assert worker_problems(Config(), 4) == []  # sqlite counters in a sqlite store: exact across processes


def test_approvals_and_agents_are_refused_with_more_than_one_worker() -> None:
    config = Config.model_validate(
        {
            "tools": {"clock": {"builtin": "datetime", "approval": "required"}},
            "policies": {
                "rules": [{"name": "r", "effect": "allow", "match": {"tools": ["clock.*"]}, "approval": "required"}]
            },
            "agents": {"helper": {"class": "agentrt.agents:Agent"}},
        }
    )
    problems = worker_problems(config, 2)
    assert [problem.path for problem in problems] == ["tools.clock.approval", "agents"]
    assert "tools.clock.approval, policies.rules[0].approval" in problems[0].message
    assert "--workers 1" in problems[1].message
    on_ray = config.model_copy(update={"agents_backend": config.agents_backend.model_copy(update={"kind": "ray"})})
    assert [problem.path for problem in worker_problems(on_ray, 2)] == ["tools.clock.approval"]
