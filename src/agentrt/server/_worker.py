"""One worker of ``agentrt serve --workers N``: ``python -m agentrt.server._worker``, started by the supervisor.

A worker is a whole runtime serving HTTP, as ``agentrt serve`` is, on the port
the supervisor took (``--reuse-port``, or the listening socket ``--socket-fd``
it passed down). Once it listens it writes ``<number> <pid>`` to ``--ready-fd``;
when ``--lifeline-fd`` reaches its end (the supervisor is gone, even killed) it
shuts down gracefully. See :mod:`agentrt.server.workers`.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from agentrt.errors import ConfigError

if TYPE_CHECKING:
    from agentrt.runtime import Runtime
    from agentrt.server.serving import HttpServer

__all__ = ["worker_main"]

_log = structlog.get_logger("agentrt.server.workers")


@dataclass(frozen=True)
class _WorkerArgs:
    index: int
    host: str
    port: int
    ready_fd: int
    lifeline_fd: int
    config: str | None
    env: str | None
    socket_fd: int | None
    reuse_port: bool


def _parse(argv: Sequence[str]) -> _WorkerArgs:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m agentrt.server._worker", description="One agentrt server worker.")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int, required=True)
    parser.add_argument("--config")
    parser.add_argument("--env")
    parser.add_argument("--socket-fd", type=int)
    parser.add_argument("--reuse-port", action="store_true")
    ns = parser.parse_args(list(argv))
    return _WorkerArgs(
        ns.worker, ns.host, ns.port, ns.ready_fd, ns.lifeline_fd, ns.config, ns.env, ns.socket_fd, ns.reuse_port
    )


async def _serve_worker(rt: Runtime, args: _WorkerArgs) -> None:
    import asyncio

    from agentrt.server.serving import serve

    loop = asyncio.get_running_loop()

    def supervisor_gone() -> None:
        # EOF: the supervisor's end of the pipe closed, so it is gone; nobody would replace or stop us.
        loop.remove_reader(args.lifeline_fd)
        _log.warning("worker_orphaned", worker=args.index, hint="the supervisor exited: shutting down")
        rt.request_shutdown()

    loop.add_reader(args.lifeline_fd, supervisor_gone)

    def listening(server: HttpServer) -> None:
        os.write(args.ready_fd, f"{args.index} {os.getpid()}\n".encode())

    sock = socket.socket(fileno=args.socket_fd) if args.socket_fd is not None else None
    await serve(
        rt, host=args.host, port=args.port, reuse_port=args.reuse_port, sock=sock, worker=args.index,
        on_listening=listening,
    )  # fmt: skip


def worker_main(argv: Sequence[str] | None = None) -> int:
    """The main of one worker process (started by the supervisor, not by hand)."""
    import functools

    from agentrt.runtime import Runtime

    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        Runtime.run(functools.partial(_serve_worker, args=args), args.config, env=args.env)
    except ConfigError as err:
        sys.stderr.write(f"worker {args.index}: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(worker_main())
