"""The states of services and containers, and what ``info()`` reports about each service."""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Reconfigurable", "ServiceInfo", "ServiceState"]


class ServiceState(enum.Enum):
    """Where a service, or a whole container, is in its life.

    A service goes ``REGISTERED -> STARTING -> RUNNING -> STOPPING -> STOPPED``.
    ``FAILED`` is where a service whose start or cleanup raised ends up (its
    ``error`` says why); a container is ``FAILED`` when its start failed and
    what had started was stopped again. ``STOPPED`` and ``FAILED`` are final.
    """

    REGISTERED = "registered"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """A snapshot of one service, as ``ServiceContainer.info()`` lists it.

    ``provides`` is the qualified name of the type it serves; ``dependencies``
    the names of the services it needs; ``error`` the reason it failed, if it
    did; ``start_seconds`` how long its start took, once it started.
    """

    name: str
    provides: str
    version: str
    state: ServiceState
    dependencies: tuple[str, ...]
    origin: str
    error: str | None = None
    start_seconds: float | None = None


@runtime_checkable
class Reconfigurable(Protocol):
    """A service instance that takes a new configuration section without a restart.

    ``reconfigure`` gets the new value of the section its definition names in
    ``config_section``; it may be sync or async. Raising leaves the service on
    its previous configuration (the runtime logs the error and reports it).
    """

    def reconfigure(self, section: Any) -> Awaitable[None] | None: ...
