"""``agentrt serve --workers N``: N server processes on one port, supervised.

The supervisor (the ``agentrt serve`` process) checks the configuration once,
takes the port, starts N workers (``python -m agentrt.server._worker``, each a
whole runtime serving HTTP) and then only watches them:

- **One port.** On Linux each worker binds its own socket with ``SO_REUSEPORT``
  and the kernel spreads new connections over them; the supervisor holds a bound
  (not listening) socket of its own, so the port stays reserved while a worker is
  replaced and ``--port 0`` picks one port for all. Elsewhere the supervisor
  makes one listening socket and every worker accepts on it.
- **Replaced when dead.** A worker that exits while the server runs is started
  again, after a backoff that doubles with each death in a row (0.5 s up to
  30 s) and starts over once a worker has served for a minute. A worker that
  dies before it ever listened, :data:`MAX_START_FAILURES` times in a row, is a
  problem no restart fixes (the port is taken, a provider refuses to start):
  the supervisor stops the others and exits with status 1.
- **Drained together.** SIGTERM or SIGINT is passed to every worker once; each
  drains as ``agentrt serve`` does (requests in flight finish within
  ``runtime.shutdown_timeout``, then its services stop). A second signal is
  passed on too, which makes the workers exit at once. SIGHUP is passed on:
  every worker reloads its configuration. The supervisor exits 0 when every
  worker ended cleanly, else 1.
- **No orphans.** Each worker watches a pipe whose other end only the
  supervisor holds: if the supervisor dies (even by SIGKILL) the pipe closes and
  the workers shut down gracefully.

What a worker keeps in memory is its own, so state that must be shared cannot
live in memory: a ``memory`` policy backend (each worker would count its own
limits and budgets), a ``memory://`` store, an enabled ``memory`` response cache,
approvals (a parked tool call waits in one worker) and local agents (an agent
lives in the worker that spawned it; on Ray they are shared) are refused with
N > 1 (:func:`worker_problems`). The dashboard's session secret, random per
process when unset, is picked once by the supervisor for every worker. ``sqlite`` policy counters are shared
exactly (every check-and-hold is a ``BEGIN IMMEDIATE`` transaction, serialised
across processes), as are ``redis://`` ones. A log file is per worker: with
``logging.file.path: logs/agentrt.jsonl`` worker 2 writes
``logs/agentrt.w2.jsonl``, since two processes rotating one file would lose lines.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import structlog

from agentrt.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from agentrt.config import Config, LoadedConfig

__all__ = ["MAX_START_FAILURES", "ShareMode", "WorkerSupervisor", "worker_log_path", "worker_problems"]

_log = structlog.get_logger("agentrt.server.workers")

ShareMode = Literal["auto", "reuseport", "socket"]
MAX_START_FAILURES: Final = 5
BACKOFF_FIRST: Final = 0.5
BACKOFF_MAX: Final = 30.0
STEADY_AFTER: Final = 60.0
"""Seconds of serving after which a worker's death no longer counts as one in a row."""
_POLL: Final = 0.05


def worker_problems(config: Config, workers: int) -> list[ConfigProblem]:
    """What keeps ``config`` from being served by ``workers`` processes; empty when nothing does."""
    if workers <= 1:
        return []
    from agentrt.config._sections import store_kind

    why = f"with --workers {workers} each worker would keep its own"
    problems: list[ConfigProblem] = []
    if config.policies.backend == "memory":
        problems.append(
            ConfigProblem(
                "policies.backend",
                f"the memory policy backend is one process's: {why} rate limits and budgets. "
                "Use sqlite (the default: counters in the store, exact across the processes of one machine) "
                "or a redis:// URL (shared by every process and machine)",
            )
        )
    try:
        memory_store = store_kind(config.store.url) == "memory"
    except ValueError:
        memory_store = False
    if memory_store:
        problems.append(
            ConfigProblem(
                "store.url",
                f"a memory:// store is one process's: {why} ledger and audit trail. "
                "Use a sqlite:/// file (one machine) or a postgresql:// URL",
            )
        )
    cache = getattr(config, "cache", None)
    if cache is not None and getattr(cache, "enabled", False) and getattr(cache, "backend", "") == "memory":
        problems.append(
            ConfigProblem(
                "cache.backend",
                f"the memory response cache is one process's: {why} cache. Use a redis:// URL, "
                "or serve with --workers 1",
            )
        )
    approvals = _approval_paths(config)
    if approvals:
        problems.append(
            ConfigProblem(
                approvals[0],
                "a tool call that needs approval waits in the worker that made it, and the approval "
                "(POST /v1/approvals/{id}) may reach another worker: serve with --workers 1 while any tool "
                f"or rule says approval: required ({', '.join(approvals)})",
            )
        )
    backend = getattr(getattr(config, "agents_backend", None), "kind", "local")
    if config.agents and backend == "local":  # on Ray every process reaches every agent
        problems.append(
            ConfigProblem(
                "agents",
                "local agents live in the process that spawned them, and a request may reach any worker: "
                "serve agents with --workers 1, or run them on Ray (agents_backend: {kind: ray})",
            )
        )
    return problems


def _approval_paths(config: Config) -> list[str]:
    """Where the configuration asks for approvals (read defensively: the sections are young)."""
    found: list[str] = []
    for name, toolkit in config.tools.items():
        if getattr(toolkit, "approval", None) == "required":
            found.append(f"tools.{name}.approval")
        for tool, override in (getattr(toolkit, "tools", None) or {}).items():
            if getattr(override, "approval", None) == "required":
                found.append(f"tools.{name}.tools.{tool}.approval")
    for index, rule in enumerate(config.policies.rules):
        if getattr(rule, "approval", None) == "required":
            found.append(f"policies.rules[{index}].approval")
    return found


def _shared_settings(config: Config) -> dict[str, str]:
    """Settings every worker must share that a single process would pick at random, as AGENTRT__ variables.

    The dashboard signs its session cookies with ``server.ui.secret``, a random one per
    process when unset: then a login on one worker would be refused by the next. The
    supervisor picks that random secret once, for all of them.
    """
    ui = getattr(config.server, "ui", None)
    if ui is None or not getattr(ui, "enabled", False) or getattr(ui, "secret", None) is not None:
        return {}
    import secrets

    return {"AGENTRT__SERVER__UI__SECRET": secrets.token_hex(32)}


def worker_log_path(path: Path, index: int) -> Path:
    """Worker ``index``'s own log file: ``agentrt.jsonl`` -> ``agentrt.w2.jsonl``."""
    return path.with_name(f"{path.stem}.w{index}{path.suffix}")


# --- the supervisor -------------------------------------------------------------------------------


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready: bool = False
    failures: int = 0
    """Deaths in a row (for the backoff); reset by a minute of serving."""
    start_failures: int = 0
    """Deaths in a row before listening; reset when it listens."""
    restart_at: float | None = None
    exits: list[int] = field(default_factory=list)


class WorkerSupervisor:
    """Runs ``workers`` server processes for the configuration ``loaded`` until a stop signal.

    ``run()`` blocks and returns the exit status. ``share`` picks how the port is
    shared: ``auto`` (``reuseport`` on Linux, else ``socket``), or either one.
    ``environ`` is the workers' environment (default: this process's);
    ``backoff`` the first and the longest wait before a dead worker is started again.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        workers: int,
        host: str | None = None,
        port: int | None = None,
        share: ShareMode = "auto",
        environ: dict[str, str] | None = None,
        backoff: tuple[float, float] = (BACKOFF_FIRST, BACKOFF_MAX),
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if loaded.path is None:
            raise ValueError("each worker reads the configuration from its file: load it from a file, not a mapping")
        problems = worker_problems(loaded.config, workers)
        if problems:
            sourced = [ConfigProblem(p.path, p.message, p.source or loaded.source_of(p.path)) for p in problems]
            raise ConfigError(sourced, source=str(loaded.path) if loaded.path else None)
        self._loaded = loaded
        self._workers = workers
        self._host = host if host is not None else loaded.config.server.host
        self._port = port if port is not None else loaded.config.server.port
        if share == "auto":
            share = "reuseport" if sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT") else "socket"
        self._share: ShareMode = share
        self._environ = dict(os.environ if environ is None else environ)
        self._backoff = backoff
        self._slots = [_Slot(index) for index in range(1, workers + 1)]
        self._signals: list[int] = []
        self._stopping = False
        self._failed = False
        self._sock: socket.socket | None = None
        self._ready_read = self._ready_write = self._life_read = self._life_write = -1
        self._bound: tuple[str, int] | None = None
        self._buffer = b""
        self._all_ready = False
        self._shared_env = _shared_settings(loaded.config)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the workers serve, once :meth:`run` has taken the port."""
        if self._bound is None:
            raise RuntimeError("the supervisor has not taken its port yet")
        return self._bound

    def run(self) -> int:
        """Start the workers, keep them running until SIGTERM/SIGINT, drain them; the exit status."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            self._open()
            _log.info(
                "workers_starting", workers=self._workers, host=self._bound[0] if self._bound else None,
                port=self._bound[1] if self._bound else None, share=self._share,
            )  # fmt: skip
            for slot in self._slots:
                self._spawn(slot)
            while not self._done():
                self._step()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._kill_left()
            self._close()
        clean = not self._failed and all(code == 0 for slot in self._slots for code in slot.exits[-1:])
        _log.info("workers_stopped", status=0 if clean else 1)
        return 0 if clean else 1

    # --- the loop ---------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)  # handled in the loop: a handler only records

    def _done(self) -> bool:
        return self._stopping and all(slot.process is None for slot in self._slots)

    def _step(self) -> None:
        self._handle_signals()
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([self._ready_read], [], [], _POLL)
            if readable:
                self._read_ready()
        now = time.monotonic()
        for slot in self._slots:
            if slot.process is not None and (code := slot.process.poll()) is not None:
                self._exited(slot, code, now)
            elif slot.process is None and slot.restart_at is not None and now >= slot.restart_at and not self._stopping:
                self._spawn(slot)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum == signal.SIGHUP:
                _log.info("workers_reloading")
                self._send(signal.SIGHUP)
                continue
            if not self._stopping:
                _log.info("workers_draining", signal=signal.Signals(signum).name)
            else:
                _log.warning("workers_forced", signal=signal.Signals(signum).name)
            self._stopping = True
            for slot in self._slots:
                slot.restart_at = None
            self._send(signal.SIGTERM)

    def _send(self, signum: int) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signum)

    def _read_ready(self) -> None:
        try:
            data = os.read(self._ready_read, 4096)
        except BlockingIOError:
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                index, pid = int(parts[0]), int(parts[1])
                for slot in self._slots:
                    if slot.index == index and slot.process is not None and slot.process.pid == pid:
                        slot.ready, slot.start_failures = True, 0
                        _log.info("worker_ready", worker=index, pid=pid)
        if not self._all_ready and all(slot.ready for slot in self._slots):
            self._all_ready = True
            host, port = self.address
            url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            _log.info("workers_listening", url=url, workers=self._workers)

    def _exited(self, slot: _Slot, code: int, now: float) -> None:
        assert slot.process is not None
        pid, served = slot.process.pid, now - slot.started
        slot.process, slot.exits = None, [*slot.exits, code]
        if self._stopping:
            _log.info("worker_stopped", worker=slot.index, pid=pid, status=code)
            return
        if slot.ready and served >= STEADY_AFTER:
            slot.failures = 0
        slot.failures += 1
        slot.start_failures += 0 if slot.ready else 1
        if slot.start_failures >= MAX_START_FAILURES:
            _log.error(
                "worker_crash_loop",
                worker=slot.index,
                status=code,
                failures=slot.start_failures,
                hint="it never started listening: read its log lines above; the other workers are stopped",
            )
            self._failed = self._stopping = True
            self._send(signal.SIGTERM)
            return
        first, most = self._backoff
        delay = min(most, first * 2 ** (slot.failures - 1))
        slot.restart_at = now + delay
        _log.warning("worker_died", worker=slot.index, pid=pid, status=code, restart_in=delay)

    # --- processes, sockets, pipes -----------------------------------------------------------

    def _spawn(self, slot: _Slot) -> None:
        assert self._bound is not None
        host, port = self._bound
        args = [sys.executable, "-m", "agentrt.server._worker", "--worker", str(slot.index)]
        args += ["--host", host, "--port", str(port), "--ready-fd", str(self._ready_write)]
        args += ["--lifeline-fd", str(self._life_read)]
        if self._loaded.path is not None:
            args += ["--config", str(self._loaded.path)]
        if self._loaded.env is not None:
            args += ["--env", self._loaded.env]
        fds = [self._ready_write, self._life_read]
        if self._share == "socket":
            assert self._sock is not None
            args += ["--socket-fd", str(self._sock.fileno())]
            fds.append(self._sock.fileno())
        else:
            args += ["--reuse-port"]
        env = dict(self._environ)
        env.update(self._shared_env)
        log_file = self._loaded.config.logging.file
        if log_file is not None:
            env["AGENTRT__LOGGING__FILE__PATH"] = str(worker_log_path(log_file.path, slot.index))
        # A group of its own: Ctrl-C in a terminal reaches the supervisor alone, which passes it on once.
        slot.process = subprocess.Popen(args, pass_fds=fds, env=env, process_group=0)
        slot.started, slot.ready, slot.restart_at = time.monotonic(), False, None
        _log.info("worker_started", worker=slot.index, pid=slot.process.pid)

    def _open(self) -> None:
        self._ready_read, self._ready_write = os.pipe()
        os.set_blocking(self._ready_read, False)
        self._life_read, self._life_write = os.pipe()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._share == "reuseport":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((self._host, self._port))
            if self._share == "socket":
                sock.listen(1024)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        bound = sock.getsockname()
        self._bound = (str(bound[0]), int(bound[1]))

    def _kill_left(self) -> None:
        """Workers still there when the supervisor itself fails: stop them, then kill what will not stop."""
        left = [slot.process for slot in self._slots if slot.process is not None and slot.process.poll() is None]
        for process in left:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + self._loaded.config.runtime.shutdown_timeout + 5
        for process in left:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _close(self) -> None:
        for fd in (self._ready_read, self._ready_write, self._life_read, self._life_write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self._sock is not None:
            self._sock.close()
