"""Helpers for the MCP client tests (and anyone reusing the test servers in tests/tools/mcp_servers/).

``stdio_spec("basic")`` describes ``python tests/tools/mcp_servers/basic.py``
as a stdio server; :class:`HttpMcpServer` runs one of the same scripts over
streamable HTTP on a free loopback port (``with HttpMcpServer("basic") as
server: server.url``). Restart waits in these specs are short, so tests of
restarts take well under a second.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from agentrt.tools.mcp import HttpServer, McpServerSpec, RestartPolicy, StdioServer

SERVERS = Path(__file__).parent / "mcp_servers"
# The bytes basic.py's ``pixel`` tool returns (a 1x1 PNG).
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
FAST_RESTARTS = RestartPolicy(backoff=0.05, max_backoff=0.4, jitter=False)


def script(name: str) -> Path:
    """The path of test server ``name`` (``basic``, ``crashy``, ``hanging``, ``changing``, ``broken``)."""
    path = SERVERS / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"no test server {name!r} in {SERVERS}")
    return path


def stdio_spec(
    name: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 15.0,
    restart: RestartPolicy = FAST_RESTARTS,
    protocol: str = "auto",
) -> McpServerSpec:
    server = StdioServer(command=sys.executable, args=(str(script(name)), *args), env=dict(env or {}))
    return McpServerSpec(server=server, start_timeout=start_timeout, restart=restart, protocol=protocol)  # type: ignore[arg-type]


def http_spec(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    start_timeout: float = 15.0,
    restart: RestartPolicy = FAST_RESTARTS,
    protocol: str = "auto",
) -> McpServerSpec:
    server = HttpServer(url=url, headers=dict(headers or {}))
    return McpServerSpec(server=server, start_timeout=start_timeout, restart=restart, protocol=protocol)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


class HttpMcpServer:
    """A test server run as ``python <script> --http PORT``; stopped (killed if need be) on exit."""

    def __init__(self, name: str, *, env: Mapping[str, str] | None = None, port: int | None = None) -> None:
        self.name = name
        self.env = dict(env or {})
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(script(self.name)), "--http", str(self.port)],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self, timeout: float = 20.0) -> HttpMcpServer:
        """Start and wait until the port accepts connections (blocking: call from sync code)."""
        self.process = self._spawn()
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"test MCP server {self.name!r} did not listen on port {self.port}")
            time.sleep(0.05)
        return self

    async def astart(self, timeout: float = 20.0) -> HttpMcpServer:
        """:meth:`start` for async tests: the event loop keeps running while the server boots."""
        self.process = self._spawn()
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(_accepts, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"test MCP server {self.name!r} did not listen on port {self.port}")
            await asyncio.sleep(0.05)
        return self

    def kill(self) -> None:
        """End the server abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> HttpMcpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def pids_in(path: Path) -> list[int]:
    """The pids a test server wrote to ``MCP_TEST_PIDFILE`` (one line per process start)."""
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split()]


def process_gone(pid: int) -> bool:
    """True when ``pid`` is neither running nor a zombie waiting to be reaped (no /proc entry at all)."""
    return not Path(f"/proc/{pid}").exists()


async def eventually(check: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until ``check()`` is true; AssertionError after ``timeout`` seconds."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
