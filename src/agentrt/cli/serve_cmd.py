"""``agentrt serve``: the HTTP server (OpenAI-compatible API, agents, operations) until SIGTERM.

The runtime runs with ``Runtime.run``: SIGTERM or SIGINT stops accepting new
connections, lets the requests in flight (streams included) finish within
``runtime.shutdown_timeout``, then stops the services (agents drain, the
ledger and the logs flush), and the command exits 0. A second signal forces
the exit. SIGHUP reloads the configuration.
"""

from __future__ import annotations

import errno
from typing import Annotated

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


# The address is taken, does not exist here, or needs privileges.
_CANNOT_BIND = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def serve(config: ConfigOption = None, env: EnvOption = None, host: HostOption = None, port: PortOption = None) -> None:
    """Serve the OpenAI-compatible API, the agents API, /healthz, /readyz and /metrics until SIGTERM."""
    import functools

    from agentrt.runtime import Runtime
    from agentrt.server import serve as serve_forever

    with reported_errors():
        try:
            Runtime.run(functools.partial(serve_forever, host=host, port=port), config, env=env)
        except OSError as err:
            if err.errno not in _CANNOT_BIND:
                raise
            fail(f"cannot listen: {err}; pick another --host/--port (server.host, server.port), or stop what uses it")


def main() -> None:
    """``python -m agentrt.cli.serve_cmd``: the command on its own, until the CLI app lists it."""
    typer.run(serve)


if __name__ == "__main__":
    main()
