"""Real servers for the tests that are about them: a redis-server and a PostgreSQL, on loopback, per test session.

Each fixture starts its server in a temporary directory on a free port, waits
until it answers, yields its URL and stops it at the end of the session.
A missing binary skips the tests that need it, with the command that installs
it, except under CI (``CI=true``), where it fails them: CI must run them.

``redis_url``: ``redis://127.0.0.1:<port>/0``, no persistence. Tests share it:
``FLUSHDB`` first, or use a key prefix of their own.

``postgres_url``: ``postgresql://postgres@127.0.0.1:<port>/postgres``, trust
authentication, fsync off (a test server, not a durable one). PostgreSQL
refuses to run as root, so as root it runs as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = ["postgres_url", "redis_url"]

START_TIMEOUT = 30.0
REDIS_MISSING = (
    "redis-server is not installed: sudo apt-get install redis-server (make test installs it when run as root)"
)
POSTGRES_MISSING = (
    "PostgreSQL is not installed (initdb and postgres): sudo apt-get install postgresql "
    "(make test installs it when run as root)"
)


def _missing(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


# --- redis ------------------------------------------------------------------------------


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of this test session: ``redis://127.0.0.1:<port>/0``."""
    binary = shutil.which("redis-server")
    if binary is None:
        _missing(REDIS_MISSING)
    workdir = Path(tempfile.mkdtemp(prefix="agentrt-redis-"))
    port = _free_port()
    log = workdir / "redis.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(workdir), "--logfile", str(log)]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _redis_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {port}:\n{_log_tail(log)}", pytrace=False)
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


# --- postgresql -----------------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("postgres") is not None:
        return Path(initdb).parent
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda bindir: int(bindir.parent.name) if bindir.parent.name.isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def _as_postgres_user() -> dict[str, Any]:
    """subprocess arguments that run a command as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "running as root, but there is no 'postgres' system user to run PostgreSQL as "
            "(PostgreSQL refuses root): install the postgresql package, which creates it",
            pytrace=False,
        )
    env = {**os.environ, "HOME": entry.pw_dir}
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "env": env}


def _postgres_ready(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2) as conn:
            conn.execute("SELECT 1")
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL of this test session: ``postgresql://postgres@127.0.0.1:<port>/postgres``."""
    bindir = _postgres_bindir()
    if bindir is None:
        _missing(POSTGRES_MISSING)
    run_as = _as_postgres_user()
    # Not under pytest's tmp dirs: those are private to root, and the server may run as another user.
    workdir = Path(tempfile.mkdtemp(prefix="agentrt-pg-"))
    if run_as:
        os.chown(workdir, run_as["user"], run_as["group"])
    data, log = workdir / "data", workdir / "postgres.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        initdb = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
            capture_output=True,
            text=True,
            check=False,
            **run_as,
        )
        if initdb.returncode != 0:
            pytest.fail(f"initdb failed ({initdb.returncode}):\n{initdb.stderr[-2000:]}", pytrace=False)
        port = _free_port()
        command = [str(bindir / "postgres"), "-D", str(data), "-k", str(workdir), "-p", str(port), "-h", "127.0.0.1"]
        command += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        command += ["-c", "max_connections=200"]
        with open(log, "wb") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, **run_as)
        deadline = time.monotonic() + START_TIMEOUT
        while not _postgres_ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not start on port {port}:\n{_log_tail(log)}", pytrace=False)
            time.sleep(0.05)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if process is not None:
            _stop(process, signal.SIGINT)  # "fast" shutdown: ends sessions, no waiting for clients
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir, ignore_errors=True)
