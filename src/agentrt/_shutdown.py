"""``Runtime.run``: a runtime with a main coroutine, SIGINT/SIGTERM and SIGHUP handled.

First SIGINT/SIGTERM: graceful. ``rt.shutdown_requested`` is set; ``main`` has
``runtime.shutdown_timeout`` to return by itself, then it is cancelled; then the
services stop, each within its deadline. Second signal: forced, as with plain
``asyncio.run``. ``main`` is cancelled at once and the services stop; if the
services are already stopping, or ``main`` blocks the event loop (it never
awaits, so neither the first signal nor the cancel can reach it) and has not
ended within ``FORCE_GRACE``, the log sinks are flushed and the process exits
with status 130 without waiting. SIGHUP reloads the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

if TYPE_CHECKING:
    from agentrt.runtime import Runtime

__all__ = ["run_with_signals"]

T = TypeVar("T")

_log = structlog.get_logger("agentrt.runtime")
FORCED_EXIT_STATUS = 130
FORCE_GRACE = 1.0
"""Seconds a cancelled main gets to end before a second signal ends the process anyway."""


class _SignalState:
    """What the stop signals have done so far, shared by the signal handler and the loop.

    The handler is a plain ``signal.signal`` handler, not the loop's: Python runs it
    in the main thread even while ``main`` blocks the event loop (``time.sleep`` in
    a loop), where a loop handler would never get its turn. It only counts and
    hands work over; whatever may take a lock (logging) runs in the loop or, when
    the exit is forced, in a thread of its own.
    """

    def __init__(self, rt: Runtime, loop: asyncio.AbstractEventLoop) -> None:
        self.rt = rt
        self.loop = loop
        self.count = 0
        self.main_task: asyncio.Task[object] | None = None
        self.stopping_services = False
        self.loop_answered = False
        """True once the loop ran the first signal's callback: it is not blocked (or was not then)."""

    def on_signal(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count == 1:
            self.loop.call_soon_threadsafe(self._request_shutdown, signum)
            return
        if self.count == 2 and self.loop_answered and not self.stopping_services:
            # The loop is alive: cancel main at once and let the services stop, unless
            # main keeps the loop blocked after all; then the watchdog ends the process.
            self.loop.call_soon_threadsafe(self._cancel_main, signum)
            watchdog = threading.Timer(FORCE_GRACE, self._force_unless_main_done, (signum,))
            watchdog.daemon = True
            watchdog.start()
            return
        _force_exit_in_thread(self.rt, signum)

    def _request_shutdown(self, signum: int) -> None:
        self.loop_answered = True
        _log.info(
            "shutdown_requested",
            signal=signal.Signals(signum).name,
            timeout=self.rt.config.runtime.shutdown_timeout,
            hint="send the signal again to force",
        )
        self.rt.request_shutdown()

    def _cancel_main(self, signum: int) -> None:
        _log.warning("shutdown_forced", signal=signal.Signals(signum).name, action="main cancelled")
        if self.main_task is not None:
            self.main_task.cancel()

    def _force_unless_main_done(self, signum: int) -> None:
        task = self.main_task
        if task is not None and not task.done() and not self.stopping_services:
            _force_exit(self.rt, signum)

    def on_reload_signal(self) -> None:
        task = asyncio.get_running_loop().create_task(self.rt.reload(), name="agentrt-sighup-reload")
        task.add_done_callback(_log_reload_failure)


def _force_exit_in_thread(rt: Runtime, signum: int) -> None:
    # Not in the handler itself: it may have interrupted the main thread inside a lock
    # that logging needs. The thread takes it once the main thread lets go, or never
    # needs it; os._exit ends the whole process from there.
    threading.Thread(target=_force_exit, args=(rt, signum), name="agentrt-forced-exit", daemon=True).start()


def _force_exit(rt: Runtime, signum: int) -> None:
    """Keep the log lines, drop the rest: end the process now with status 130."""
    with contextlib.suppress(Exception):
        _log.warning("shutdown_forced", signal=signal.Signals(signum).name, action="process ended")
    with contextlib.suppress(Exception):
        rt.logging.close()
    os._exit(FORCED_EXIT_STATUS)


def _log_reload_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("config_reload_failed", exc_info=task.exception())


async def run_with_signals(rt: Runtime, main: Callable[[Runtime], Awaitable[T]] | None) -> T | None:
    loop = asyncio.get_running_loop()
    state = _SignalState(rt, loop)
    async with rt:
        previous = _install_handlers(loop, state)
        try:
            return await _run_main(rt, main, state)
        finally:
            state.stopping_services = True
            # The handlers stay installed while services stop, so a second signal can force it.
            try:
                await rt.stop()
            finally:
                _restore_handlers(loop, previous)


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


def _install_handlers(loop: asyncio.AbstractEventLoop, state: _SignalState) -> dict[int, Any]:
    """Install the stop handlers (and SIGHUP's); the handlers they replaced, to put back."""
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, state.on_signal)
        except ValueError:  # not the main thread: leave the signals to the application
            continue
    if hasattr(signal, "SIGHUP"):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, state.on_reload_signal)
            previous[signal.SIGHUP] = None
    return previous


def _restore_handlers(loop: asyncio.AbstractEventLoop, previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        if handler is None:
            loop.remove_signal_handler(signum)
        else:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, handler)
