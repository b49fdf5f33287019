"""Health checks of running service instances.

An instance opts in by having a ``health()`` method, sync or async. What it
returns means:

- ``True`` / ``False``: healthy or not;
- ``None``: healthy (nothing to complain about);
- a ``str`` or a mapping: healthy, with that detail (e.g. ``{"pool": 3}``);
- a :class:`HealthReport`: exactly that.

Raising means unhealthy, with the error as the detail; so does not answering
within the timeout. An instance without ``health()`` is healthy while running.
A sync ``health()`` runs on the event loop: it must be quick.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["HealthCheck", "HealthReport", "check_health", "describe_error"]


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The answer of one service to a health check."""

    healthy: bool
    detail: str | None = None


class HealthCheck(Protocol):
    """A service instance that can say how it is."""

    def health(self) -> object | Awaitable[object]: ...


async def check_health(instance: object, *, timeout: float) -> HealthReport:
    """Ask ``instance`` how it is, for at most ``timeout`` seconds; never raises (but cancellation)."""
    check = getattr(instance, "health", None)
    if check is None or not callable(check):
        return HealthReport(True)
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            result = check()
            if inspect.isawaitable(result):
                result = await result
    except TimeoutError as err:
        if deadline.expired():
            return HealthReport(False, f"health check did not answer within {timeout:g}s")
        return HealthReport(False, describe_error(err))
    except Exception as err:  # an unhealthy answer, not an error of the caller
        return HealthReport(False, describe_error(err))
    return _interpret(result)


def _interpret(result: Any) -> HealthReport:
    if isinstance(result, HealthReport):
        return result
    if isinstance(result, bool):
        return HealthReport(result, None if result else "health() returned False")
    if result is None:
        return HealthReport(True)
    if isinstance(result, Mapping):
        return HealthReport(True, ", ".join(f"{key}={value}" for key, value in result.items()) or None)
    return HealthReport(True, str(result))


def describe_error(err: BaseException) -> str:
    """``TypeName: message`` (or just the type name when the message is empty), as reports show errors."""
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
