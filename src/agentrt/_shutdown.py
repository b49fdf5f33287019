"""``Runtime.run``: a runtime with a main coroutine, SIGINT/SIGTERM and SIGHUP handled.

First SIGINT/SIGTERM: graceful. ``rt.shutdown_requested`` is set; ``main`` has
``runtime.shutdown_timeout`` to return by itself, then it is cancelled; then the
services stop, each within its deadline. Second signal: forced. ``main`` is
cancelled at once; if the services are already stopping, the log sinks are
flushed and the process exits with status 130 without waiting for them.
SIGHUP reloads the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import structlog

if TYPE_CHECKING:
    from agentrt.runtime import Runtime

__all__ = ["run_with_signals"]

T = TypeVar("T")

_log = structlog.get_logger("agentrt.runtime")
FORCED_EXIT_STATUS = 130


class _SignalState:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.count = 0
        self.main_task: asyncio.Task[object] | None = None
        self.stopping_services = False

    def on_stop_signal(self, signum: int) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            _log.info(
                "shutdown_requested",
                signal=name,
                timeout=self.rt.config.runtime.shutdown_timeout,
                hint="send the signal again to force",
            )
            self.rt.request_shutdown()
            return
        _log.warning("shutdown_forced", signal=name)
        if self.stopping_services:
            # Nothing left to cancel politely: keep the log lines, drop the rest.
            with contextlib.suppress(Exception):
                self.rt.logging.close()
            os._exit(FORCED_EXIT_STATUS)
        if self.main_task is not None:
            self.main_task.cancel()

    def on_reload_signal(self) -> None:
        task = asyncio.get_running_loop().create_task(self.rt.reload(), name="agentrt-sighup-reload")
        task.add_done_callback(_log_reload_failure)


def _log_reload_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("config_reload_failed", exc_info=task.exception())


async def run_with_signals(rt: Runtime, main: Callable[[Runtime], Awaitable[T]] | None) -> T | None:
    loop = asyncio.get_running_loop()
    state = _SignalState(rt)
    async with rt:
        installed = _install_handlers(loop, state)
        try:
            return await _run_main(rt, main, state)
        finally:
            state.stopping_services = True
            # The handlers stay installed while services stop, so a second signal can force it.
            try:
                await rt.stop()
            finally:
                for signum in installed:
                    loop.remove_signal_handler(signum)


async def _run_main(rt: Runtime, main: Callable[[Runtime], Awaitable[T]] | None, state: _SignalState) -> T | None:
    async def body() -> T | None:
        if main is None:
            await rt.shutdown_requested.wait()
            return None
        return await main(rt)

    task: asyncio.Task[T | None] = asyncio.create_task(body(), name="agentrt-main")
    state.main_task = task  # cancelled on a second signal, whatever it returns
    shutdown_wait = asyncio.create_task(rt.shutdown_requested.wait())
    try:
        await asyncio.wait({task, shutdown_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            timeout = rt.config.runtime.shutdown_timeout
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                _log.warning("main_cancelled", reason="it did not return within shutdown_timeout", timeout=timeout)
                task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            if rt.shutdown_requested.is_set():
                return None
            raise
    finally:
        shutdown_wait.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _install_handlers(loop: asyncio.AbstractEventLoop, state: _SignalState) -> list[int]:
    installed: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, state.on_stop_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (uvloop: ValueError)
            continue
        installed.append(signum)
    if hasattr(signal, "SIGHUP"):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, state.on_reload_signal)
            installed.append(signal.SIGHUP)
    return installed
