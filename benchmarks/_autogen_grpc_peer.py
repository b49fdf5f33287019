"""The peer of bench_agents_ray: autogen's distributed runtime (``autogen-ext[grpc]``), a
``GrpcWorkerAgentRuntimeHost`` process and a ``GrpcWorkerAgentRuntime`` worker process holding the
agents, the benchmark's process a client worker. Everything on 127.0.0.1.

Imported only when ``autogen_ext.runtimes.grpc`` is installed. The host and the worker run this module:
``python -c "...; serve_role(role, port)"`` (see ``AutogenPeer._start``); they exit when the benchmark
does (their stdin closes), never left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from autogen_core import (
    AgentId,
    MessageContext,
    RoutedAgent,
    TopicId,
    TypeSubscription,
    message_handler,
    try_get_known_serializers_for_type,
)
from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime, GrpcWorkerAgentRuntimeHost

HERE = Path(__file__).resolve().parent


@dataclass
class Ping:
    n: int


@dataclass
class CountQuery:
    pass


@dataclass
class Counted:
    count: int


class Counter(RoutedAgent):
    """The benchmark's trivial handler: counts, and answers with the message."""

    def __init__(self) -> None:
        super().__init__("counts and echoes")
        self.count = 0

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> Ping:
        self.count += 1
        return message

    @message_handler
    async def on_count(self, message: CountQuery, ctx: MessageContext) -> Counted:
        return Counted(self.count)


def _serializers(runtime: GrpcWorkerAgentRuntime) -> None:
    for message_type in (Ping, CountQuery, Counted):
        runtime.add_message_serializer(try_get_known_serializers_for_type(message_type))


async def _host(port: int) -> None:
    host = GrpcWorkerAgentRuntimeHost(address=f"127.0.0.1:{port}")
    host.start()
    print("ready", flush=True)
    await host.stop_when_signal()


async def _worker(port: int) -> None:
    worker = GrpcWorkerAgentRuntime(host_address=f"127.0.0.1:{port}")
    await worker.start()
    _serializers(worker)
    await Counter.register(worker, "counter", Counter)
    await worker.add_subscription(TypeSubscription("bench", "counter"))
    print("ready", flush=True)
    await worker.stop_when_signal()


def _exit_with_parent() -> None:
    sys.stdin.read()
    os._exit(0)


def serve_role(role: str, port: int) -> None:
    """Run as the host or the worker process until SIGTERM or until the benchmark's process ends."""
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    asyncio.run(_host(port) if role == "host" else _worker(port))


class AutogenPeer:
    """The host and worker processes, and this process as a client worker: the benchmark's loads."""

    def __init__(
        self, *, agents: int, tells: int, asks: int, window: int, ask_loops: Callable[..., Awaitable[int]]
    ) -> None:
        self.agents, self.tell_count, self.ask_count, self.window = agents, tells, asks, window
        self.ask_loops = ask_loops
        self.processes: list[subprocess.Popen[str]] = []

    async def __aenter__(self) -> AutogenPeer:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.processes = [self._start("host", port), self._start("worker", port)]
        self.client = GrpcWorkerAgentRuntime(host_address=f"127.0.0.1:{port}")
        await self.client.start()
        _serializers(self.client)
        await self._total()  # every agent exists
        return self

    def _start(self, role: str, port: int) -> subprocess.Popen[str]:
        # Run as this module (not __main__), so the message types have the same names on both sides.
        code = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); import _autogen_grpc_peer as peer; "
            "peer.serve_role(sys.argv[1], int(sys.argv[2]))"
        )
        process = subprocess.Popen(
            [sys.executable, "-c", code, role, str(port)],
            stdin=subprocess.PIPE,  # closed when the benchmark ends, however it ends: the child then exits
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"autogen's {role} did not start")
        return process

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.client.stop()
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    async def _total(self) -> int:
        counts = await asyncio.gather(
            *(self.client.send_message(CountQuery(), AgentId("counter", f"a{n}")) for n in range(self.agents))
        )
        return sum(counted.count for counted in counts)

    async def tells(self) -> int:
        """``publish_message`` to each agent's topic (fire and forget), timed until the counters show all."""
        before = await self._total()
        for start in range(0, self.tell_count, self.window):
            await asyncio.gather(
                *(
                    self.client.publish_message(Ping(n), TopicId("bench", f"a{n % self.agents}"))
                    for n in range(start, start + self.window)
                )
            )
        while await self._total() < before + self.tell_count:  # noqa: ASYNC110 - the counters are in another process
            await asyncio.sleep(0.005)
        return self.tell_count

    async def asks(self) -> int:
        """``send_message``: autogen's RPC, answered by the handler's return value."""
        client = self.client

        async def ask(agent: int, n: int) -> int:
            answer: Ping = await client.send_message(Ping(n), AgentId("counter", f"a{agent}"))
            return answer.n

        return await self.ask_loops(ask, self.ask_count)

    def pids(self) -> set[int]:
        return {process.pid for process in self.processes}
