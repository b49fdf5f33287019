"""``agentrt serve``: the HTTP server (OpenAI-compatible API, agents, operations) until SIGTERM.

The runtime runs with ``Runtime.run``: SIGTERM or SIGINT stops accepting new
connections, lets the requests in flight (streams included) finish within
``runtime.shutdown_timeout``, then stops the services (agents drain, the
ledger and the logs flush), and the command exits 0. A second signal forces
the exit. SIGHUP reloads the configuration.

``--workers N`` runs N such processes on one port under a supervisor that
replaces a dead one and drains them all on SIGTERM (see
:mod:`agentrt.server.workers`).
"""

from __future__ import annotations

import errno
import sys
from typing import Annotated, cast

import typer

from agentrt.cli._common import ConfigOption, EnvOption, fail, reported_errors

__all__ = ["main", "serve"]

HostOption = Annotated[
    str | None, typer.Option("--host", "-H", help="Address to listen on. Default: server.host of the configuration.")
]
PortOption = Annotated[
    int | None,
    typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on; 0 picks a free one. Default: server.port."),
]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        "-w",
        min=1,
        help="Server processes sharing the port, supervised (a dead one is replaced). Shared state must not be "
        "in memory: policies.backend sqlite or redis, a sqlite or postgresql store.",
    ),
]


# The address is taken, does not exist here, or needs privileges.
_CANNOT_BIND = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def serve(
    config: ConfigOption = None,
    env: EnvOption = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = 1,
    port_sharing: Annotated[
        str,
        typer.Option(
            "--port-sharing",
            hidden=True,  # for tests and odd platforms: auto picks reuseport on Linux, else one shared socket
            help="How workers share the port: auto, reuseport or socket.",
        ),
    ] = "auto",
) -> None:
    """Serve the OpenAI-compatible API, the agents API, /healthz, /readyz and /metrics until SIGTERM."""
    import functools

    if workers > 1:
        if sys.platform == "win32":
            fail("--workers needs POSIX signals and file descriptor passing: on Windows run one process per port")
        _serve_workers(config, env, host, port, workers, port_sharing)
        return

    from agentrt.runtime import Runtime
    from agentrt.server import serve as serve_forever

    with reported_errors():
        try:
            Runtime.run(functools.partial(serve_forever, host=host, port=port), config, env=env)
        except OSError as err:
            if err.errno not in _CANNOT_BIND:
                raise
            fail(f"cannot listen: {err}; pick another --host/--port (server.host, server.port), or stop what uses it")


def _serve_workers(
    config: ConfigOption, env: EnvOption, host: str | None, port: int | None, workers: int, sharing: str
) -> None:
    from agentrt._preflight import check_startable
    from agentrt.cli._common import load, run_async
    from agentrt.logging import configure_logging
    from agentrt.server.workers import ShareMode, WorkerSupervisor

    with reported_errors():
        loaded = load(config, env)
        if sharing not in ("auto", "reuseport", "socket"):
            fail(f"--port-sharing {sharing!r}: use auto, reuseport or socket")
        share = cast("ShareMode", sharing)
        supervisor = WorkerSupervisor(loaded, workers=workers, host=host, port=port, share=share)
        run_async(check_startable(loaded))  # a configuration that cannot start fails here once, not N times
        # The supervisor logs to the console only: the log file is the workers' (one each).
        section = loaded.config.logging.model_copy(update={"file": None})
        handle = configure_logging(section, secrets=loaded.config.secret_values())
        try:
            status = supervisor.run()
        except OSError as err:
            if err.errno not in _CANNOT_BIND:
                raise
            fail(f"cannot listen: {err}; pick another --host/--port (server.host, server.port), or stop what uses it")
        finally:
            handle.close()
    raise typer.Exit(status)


def main() -> None:
    """``python -m agentrt.cli.serve_cmd``: the command on its own, until the CLI app lists it."""
    typer.run(serve)


if __name__ == "__main__":
    main()
