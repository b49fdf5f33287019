"""One service's life inside a container: its entry, its start, its cleanup under a deadline.

The container (``container.py``) decides *when* each service starts and stops;
this module does the starting and the stopping of one service, and holds the
small asyncio helpers both need.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Coroutine, Sequence
from time import perf_counter
from typing import Any, TypeVar

from agentrt.services.definition import ServiceDefinition
from agentrt.services.health import describe_error
from agentrt.services.state import ServiceState

R = TypeVar("R")

# How long a cleanup that overran its deadline gets to unwind after it is cancelled,
# before the container gives up on it and moves on.
CANCEL_GRACE = 1.0


def logger() -> Any:
    """The ``agentrt.services`` logger.

    Fetched per use, not once at import: a logger proxy caches its
    configuration on first use when logging is configured with
    ``cache_logger_on_first_use``, which would hide later reconfiguration (and
    ``structlog.testing.capture_logs``) from this package. Imported here, on
    first log, so that ``import agentrt.services`` does not pay for structlog.
    """
    import structlog

    return structlog.get_logger("agentrt.services")


class ServiceEntry:
    """What the container knows about one service: its definition and where it is in its life.

    ``instance`` and ``iterator`` are set while the service runs (``iterator``
    is the suspended async generator whose resumption is the cleanup) and
    cleared when it stops, so a stopped container holds no instance.
    """

    __slots__ = ("definition", "error", "instance", "iterator", "provided", "start_seconds", "state")

    def __init__(
        self, definition: ServiceDefinition, *, provided: bool = False, instance: Any = None
    ) -> None:
        self.definition = definition
        self.provided = provided  # a ready value: no factory to run, no cleanup
        self.instance: Any = instance
        self.iterator: AsyncIterator[Any] | None = None
        self.state = ServiceState.REGISTERED
        self.error: str | None = None
        self.start_seconds: float | None = None


async def open_service(
    entry: ServiceEntry, dependencies: Sequence[object]
) -> tuple[Any, AsyncIterator[Any], float]:
    """Run a service up to its ``yield``: (instance, suspended iterator, seconds it took).

    On failure (or cancellation) the entry is marked ``FAILED`` with the reason
    and the error propagates; a generator that raised is already closed.
    """
    began = perf_counter()
    try:
        iterator = entry.definition.call(dependencies)
        if not hasattr(iterator, "__anext__"):
            if inspect.iscoroutine(iterator):
                iterator.close()  # an `async def` that returns: never awaited, so close it quietly
            raise TypeError(f"its factory returned {type(iterator).__name__}, not an async generator")
        try:
            instance = await anext(iterator)
        except StopAsyncIteration:
            raise RuntimeError("it ended without yielding its instance") from None
    except BaseException as err:
        entry.state = ServiceState.FAILED
        entry.error = "start cancelled" if isinstance(err, asyncio.CancelledError) else describe_error(err)
        raise
    return instance, iterator, perf_counter() - began


async def close_service(
    entry: ServiceEntry, seconds: float, abandoned: set[asyncio.Task[None]]
) -> BaseException | None:
    """Run one service's cleanup within ``seconds``; return its failure, or None. Never raises.

    The cleanup runs in its own task so that the deadline holds even for a
    cleanup that swallows its cancellation: such a task is put in
    ``abandoned`` (which keeps it referenced until it ends by itself) and the
    container moves on.
    """
    name = entry.definition.name
    entry.state = ServiceState.STOPPING
    iterator, entry.iterator, entry.instance = entry.iterator, None, None
    if iterator is None:  # a provided value: nothing to clean up
        entry.state = ServiceState.STOPPED
        return None
    began = perf_counter()
    task = asyncio.create_task(run_cleanup(iterator), name=f"agentrt.services.cleanup:{name}")
    done, _ = await asyncio.wait({task}, timeout=seconds)
    error: BaseException | None
    if not done:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=min(seconds, CANCEL_GRACE))
        if done:
            retrieve(task)
            error = TimeoutError(f"cleanup did not finish within {seconds:g}s and was cancelled")
        else:
            error = TimeoutError(
                f"cleanup did not finish within {seconds:g}s and ignored its cancellation; abandoned"
            )
            abandoned.add(task)
            task.add_done_callback(abandoned.discard)
            task.add_done_callback(retrieve)
    elif task.cancelled():
        error = asyncio.CancelledError("cleanup was cancelled")
    else:
        error = task.exception()
    if error is None:
        entry.state = ServiceState.STOPPED
        logger().debug("service_stopped", service=name, seconds=round(perf_counter() - began, 6))
        return None
    entry.state = ServiceState.FAILED
    entry.error = describe_error(error)
    logger().error("service_stop_failed", service=name, error=entry.error, exc_info=error)
    return error


async def run_cleanup(iterator: AsyncIterator[Any]) -> None:
    """Resume a started service past its ``yield``; a second ``yield`` is an error."""
    try:
        await anext(iterator)
    except StopAsyncIteration:
        return
    error = RuntimeError("its cleanup yielded a second time; a service yields exactly once")
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception as err:
            raise error from err
    raise error


def retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a finished task's outcome as seen, so asyncio does not log 'exception never retrieved'."""
    if task.done() and not task.cancelled():
        task.exception()


async def shielded(work: Coroutine[Any, Any, R] | asyncio.Task[R]) -> R:
    """Run ``work`` to its end even if the caller is cancelled meanwhile; re-raise the cancellation after.

    Used for stopping and for rolling back a failed start: leaving resources
    half-closed is worse than honouring a cancellation a little later (every
    cleanup has its own deadline, so the delay is bounded).
    """
    task = work if isinstance(work, asyncio.Task) else asyncio.create_task(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result
