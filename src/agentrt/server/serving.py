"""Serving the app on a TCP address, and stopping gracefully.

Lifetime of an :class:`HttpServer`::

    server = HttpServer(rt, port=0)     # nothing bound yet
    await server.start()                # listening: server.url
    await server.stop(timeout=25)       # stop accepting; in-flight requests (streams too) get
                                        # `timeout` seconds to finish; then every connection closes

:func:`serve` is the main of ``agentrt serve``: it starts a server, waits for
``rt.shutdown_requested`` (SIGTERM, SIGINT), and stops within the runtime's
``shutdown_timeout``, so that ``Runtime.run`` can then stop the services
(agents drain, ledger and logs flush).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from agentrt.errors import RuntimeStateError
from agentrt.server.app import CONTEXT, create_app
from agentrt.server.connections import GuardedRunner, connection_limits

if TYPE_CHECKING:
    from agentrt.runtime import Runtime

__all__ = ["HttpServer", "serve"]

_log = structlog.get_logger("agentrt.server")

# The share of shutdown_timeout the in-flight requests get; the rest is for closing
# connections and for the runtime's own stop, which Runtime.run starts once main returns.
_DRAIN_SHARE = 0.85
_MAX_FINAL_GRACE = 1.0
_LINGER = 1.0


class HttpServer:
    """The HTTP server of a running runtime on one address.

    ``host`` and ``port`` default to ``server.host`` and ``server.port`` of the
    configuration; ``port=0`` picks a free port (see :attr:`port`). ``agents``
    as for :func:`~agentrt.server.create_app`.

    For ``agentrt serve --workers N`` (see :mod:`agentrt.server.workers`):
    ``reuse_port`` binds with ``SO_REUSEPORT`` so that several processes share
    the port; ``sock`` serves a listening socket made by someone else instead of
    binding one; ``worker`` (the worker's number) adds the header
    ``X-Agentrt-Worker: <number>/<pid>`` to every response.
    """

    def __init__(
        self,
        rt: Runtime,
        *,
        host: str | None = None,
        port: int | None = None,
        agents: bool | None = None,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
        worker: int | None = None,
    ) -> None:
        self._rt = rt
        self._host = host if host is not None else rt.config.server.host
        self._port = port if port is not None else rt.config.server.port
        self._agents = agents
        self._reuse_port = reuse_port
        self._sock = sock
        self._worker = worker
        self._runner: GuardedRunner | None = None
        self._site: web.BaseSite | None = None
        self._bound: tuple[str, int] | None = None
        self._stopped = False

    @property
    def host(self) -> str:
        return self._address()[0]

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, when it was created with ``port=0``)."""
        return self._address()[1]

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` while it serves."""
        host, port = self._address()
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def _address(self) -> tuple[str, int]:
        if self._bound is None:
            raise RuntimeStateError("the server is not listening: start() it first")
        return self._bound

    async def start(self) -> None:
        """Bind and serve. Once only: a second start, or a start after stop, raises."""
        if self._runner is not None or self._stopped:
            raise RuntimeStateError("an HttpServer starts once: create a new one to serve again")
        timeout = self._rt.config.runtime.shutdown_timeout
        settings = self._rt.config.server
        app = create_app(self._rt, agents=self._agents)
        if self._worker is not None:
            app.on_response_prepare.append(_worker_header(f"{self._worker}/{os.getpid()}"))
        runner = GuardedRunner(
            app,
            limits=connection_limits(settings),
            handle_signals=False,  # the runtime owns the signals (Runtime.run)
            access_log=None,  # metrics count every request; the call log has a line per model call
            shutdown_timeout=min(_MAX_FINAL_GRACE, timeout * 0.05),
            keepalive_timeout=float(settings.idle_timeout),
            # After an early answer (a 401, a 408) aiohttp reads what is left of the body for up to this
            # long before closing; its default of 10 s would let a slow sender hold the connection on.
            lingering_time=_LINGER,
        )
        await runner.setup()
        try:
            site: web.BaseSite
            if self._sock is not None:
                site = web.SockSite(runner, self._sock)
            else:
                reuse_port = self._reuse_port or None  # None: the platform's default, as before
                site = web.TCPSite(
                    runner, self._host, self._port, reuse_address=True, reuse_port=reuse_port, backlog=1024
                )
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        address = runner.addresses[0]
        self._bound = (str(address[0]), int(address[1]))
        _log.info("server_listening", host=self._bound[0], port=self._bound[1], url=self.url)
        if not len(runner.app[CONTEXT].keys):
            _log.warning(
                "server_has_no_api_keys",
                hint="every API request is refused with 401: run `agentrt keys create` and add the line it "
                "prints under server.api_keys",
            )

    async def stop(self, timeout: float | None = None) -> bool:
        """Stop gracefully; True if every in-flight request finished within ``timeout`` seconds.

        New connections are refused at once and idle ones closed; requests in
        flight (streams included) run on for up to ``timeout`` (default: 85% of
        ``runtime.shutdown_timeout``); then what is left is cancelled and every
        connection closed. Harmless to call twice.
        """
        runner, site = self._runner, self._site
        self._stopped = True
        self._runner = self._site = None
        if runner is None or site is None:
            return True
        if timeout is None:
            timeout = self._rt.config.runtime.shutdown_timeout * _DRAIN_SHARE
        ctx = runner.app[CONTEXT]
        ctx.stopping.set()  # endless streams (agent events) end now
        await site.stop()  # the listening socket closes: new connections are refused
        if runner.server is not None:
            runner.server.pre_shutdown()  # idle keep-alive connections close; busy ones after their answer
        in_flight = ctx.in_flight.count
        _log.info("server_stopping", in_flight=in_flight, timeout=timeout)
        drained = await ctx.in_flight.wait_idle(timeout)
        left = ctx.in_flight.count
        await runner.cleanup()
        if drained:
            _log.info("server_stopped", finished=in_flight)
        else:
            _log.warning(
                "server_stopped",
                finished=in_flight - left,
                cancelled=left,
                reason=f"requests still running after {timeout:g}s were cancelled",
            )
        return drained

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _worker_header(value: str) -> Callable[[web.Request, web.StreamResponse], Any]:
    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Agentrt-Worker"] = value

    return add


async def serve(
    rt: Runtime,
    *,
    host: str | None = None,
    port: int | None = None,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
    worker: int | None = None,
    on_listening: Callable[[HttpServer], None] | None = None,
) -> None:
    """Serve ``rt`` until it is asked to shut down, then stop gracefully: the main of ``agentrt serve``.

    Use it as ``Runtime.run(serve, "agentrt.yaml")`` (``functools.partial`` for
    ``host``/``port``). ``reuse_port``, ``sock`` and ``worker`` as for
    :class:`HttpServer`; ``on_listening`` is called once the server accepts connections.
    """
    server = HttpServer(rt, host=host, port=port, reuse_port=reuse_port, sock=sock, worker=worker)
    await server.start()
    if on_listening is not None:
        on_listening(server)
    try:
        await rt.shutdown_requested.wait()
    finally:
        # Also when cancelled (a second signal): the stop then skips the drain and closes at once.
        drain = rt.config.runtime.shutdown_timeout * _DRAIN_SHARE
        current = asyncio.current_task()
        await server.stop(0.0 if current is not None and current.cancelling() else drain)
