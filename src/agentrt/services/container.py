"""The service container: registers services, starts them in dependency order, stops them in reverse.

Lifetimes::

    container = ServiceContainer()              # REGISTERED: register(), provide(), override()
    container.register(policy_service)
    async with container:                       # start(): the graph is checked, then every service
        policies = container.get(PolicyService) # starts as soon as what it needs is RUNNING
        await container.add(late_service)       # RUNNING: add() starts one more at once
    # stop(): every cleanup ran, newest first   # STOPPED: get() and add() raise RuntimeStateError

A container starts once. Its instances live from their service's ``yield``
until ``stop()``; ``get()`` hands out the same instance every time, so callers
may keep it for as long as the container runs and must not use it after.

Start: the whole graph is checked first (a missing dependency or a cycle is a
``ServiceGraphError`` and nothing runs). Independent services start
concurrently, each in its own task. If one fails, the starts still running are
cancelled, the services already started are stopped again (newest first), the
container ends ``FAILED``, and ``ServiceStartError`` names the service and
chains its error. Cancelling the task that runs ``start()`` rolls back the same
way; that is how to put a deadline on a start.

Stop: services stop one at a time in reverse start order, so a service stops
only after every service that needs it. Sequential on purpose: like
``AsyncExitStack`` (and svcs), the order of cleanups, and of their log lines,
is the same every time, and a cleanup never races another service's cleanup.
Each cleanup gets ``timeout`` seconds; one that overruns is cancelled and
counted as failed. Failures are logged and collected, never allowed to stop
the others, and raised together at the end as ``ServiceStopError``. If the task
running ``stop()`` is cancelled, the stop still runs to its end (each cleanup
is bounded) and the cancellation is re-raised after: a shutdown never leaves
half the resources open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from time import perf_counter
from types import TracebackType
from typing import Any, TypeVar, cast

from agentrt.errors import (
    RuntimeStateError,
    ServiceError,
    ServiceGraphError,
    ServiceNotFound,
    ServiceStartError,
    ServiceStopError,
)
from agentrt.services._lifespan import ServiceEntry, close_service, logger, open_service, shielded
from agentrt.services.definition import (
    ServiceDefinition,
    definition_of,
    is_definition,
    qualified_type_name,
    type_name,
)
from agentrt.services.graph import GraphNode, validate_graph
from agentrt.services.health import HealthReport, check_health, describe_error
from agentrt.services.state import ServiceInfo, ServiceState

__all__ = ["ServiceContainer"]

# What a cleanup still gets once the total stop budget is spent: enough for a quick
# flush, so no service is skipped outright.
_MIN_STOP_GRACE = 0.1

T = TypeVar("T")

ServiceLike = ServiceDefinition | Callable[..., AsyncIterator[Any]]
"""What register() and add() take: a definition, a @service function, or a plain async generator function."""


class ServiceContainer:
    """Services keyed by the type they provide, with one lifetime: register, start, run, stop.

    Registration (``register``, ``provide``, ``override``) happens before
    ``start()``; while running, ``add()`` starts new services at once and
    ``get()`` returns instances. ``stop()`` is safe to call twice and on a
    container that never started. Everything runs on one event loop; the
    container is not thread-safe.
    """

    def __init__(self) -> None:
        self._entries: dict[Any, ServiceEntry] = {}  # registration order
        self._start_order: list[ServiceEntry] = []  # the order services reached RUNNING
        self._state = ServiceState.REGISTERED
        # Held by add() while it starts a service and by stop(), so a stop waits for an add in flight.
        self._lock = asyncio.Lock()
        self._stop_task: asyncio.Task[dict[str, BaseException]] | None = None
        # Cleanups that ignored their cancellation: kept referenced until they end by themselves.
        self._abandoned: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<ServiceContainer {self._state.value}, {len(self._entries)} services>"

    @property
    def state(self) -> ServiceState:
        """``REGISTERED``, then ``STARTING``, ``RUNNING``, ``STOPPING``, ``STOPPED`` (or ``FAILED``)."""
        return self._state

    # --- registration ------------------------------------------------------------------

    def register(self, service: ServiceLike, *, replace: bool = False) -> ServiceDefinition:
        """Register a service before start. A second one for the same type is an error unless ``replace``."""
        self._require_unstarted("register()", "use add() to start a service in a running container")
        definition = definition_of(service)
        self._put(ServiceEntry(definition), replace=replace)
        return definition

    def provide(self, key: type[T], value: T, *, name: str | None = None, version: str = "0") -> None:
        """Serve ``key`` with a ready value that has no lifespan (no start, no cleanup).

        Before start, or while running (the value is then available at once).
        """
        if self._state not in (ServiceState.REGISTERED, ServiceState.RUNNING):
            raise RuntimeStateError(
                f"provide() needs a container that is not started or is running (state: {self._state.value})"
            )
        definition = _value_definition(
            key, value, name=name or type_name(key), version=version, origin="provided"
        )
        entry = ServiceEntry(definition, provided=True, instance=value)
        existing = self._entries.get(key)
        if (
            self._state is ServiceState.RUNNING
            and existing is not None
            and existing.state is not ServiceState.FAILED
        ):
            raise ServiceError(
                f"{type_name(key)} is already served by service {existing.definition.name!r}; "
                "a running container cannot replace a service",
                service=definition.name,
            )
        self._put(entry, replace=self._state is ServiceState.RUNNING)
        if self._state is ServiceState.RUNNING:
            self._mark_running(entry, value, None, 0.0)

    def override(self, key: type[T], value: T | ServiceLike) -> None:
        """Serve ``key`` with ``value`` instead of what was registered (tests), before start.

        A :class:`ServiceDefinition` or a ``@service`` function is started like
        any service (and serves ``key`` whatever its own type); anything else is
        a ready value, like :meth:`provide`. An override keeps the name (and the
        ``config_section``) of the service it replaces, so dependants and
        reconfiguration still find it. Overriding a type nobody registered adds it.
        """
        self._require_unstarted("override()", "overrides replace services before the container starts")
        existing = self._entries.get(key)
        if is_definition(value):
            definition = replace(definition_of(value), provides=key, origin="override")
            self._put(ServiceEntry(definition), replace=True)
            return
        definition = _value_definition(
            key,
            value,
            name=existing.definition.name if existing else type_name(key),
            version=existing.definition.version if existing else "0",
            origin="override",
            config_section=existing.definition.config_section if existing else None,
        )
        self._put(ServiceEntry(definition, provided=True, instance=value), replace=True)

    def _put(self, entry: ServiceEntry, *, replace: bool) -> None:
        definition = entry.definition
        key = definition.provides
        existing = self._entries.get(key)
        if existing is not None and not replace:
            raise ServiceError(
                f"{type_name(key)} is already served by service {existing.definition.name!r} "
                f"(origin: {existing.definition.origin}); register with replace=True to replace it, "
                "or override() it in tests",
                service=definition.name,
            )
        for other_key, other in self._entries.items():
            if other_key != key and other.definition.name == definition.name:
                raise ServiceError(
                    f"a service named {definition.name!r} already serves {type_name(other_key)}; "
                    "service names must be unique (pass name=...)",
                    service=definition.name,
                )
        self._entries[key] = entry

    # --- start -------------------------------------------------------------------------

    async def start(self, *, rollback_timeout: float = 10.0) -> None:
        """Check the graph, then start every service as soon as the services it needs are running.

        Raises ``ServiceGraphError`` (nothing started; the container may be
        fixed and started again), ``ServiceStartError`` (what had started was
        stopped again, each cleanup bounded by ``rollback_timeout``; the
        container is ``FAILED``), or ``RuntimeStateError`` if already started.
        """
        if self._state is not ServiceState.REGISTERED:
            raise RuntimeStateError(
                f"this service container was already started (state: {self._state.value}); "
                "a container starts once: make a new one"
            )
        validate_graph(
            {
                key: GraphNode(entry.definition.name, entry.definition.dependencies)
                for key, entry in self._entries.items()
            }
        )
        self._state = ServiceState.STARTING
        began = perf_counter()
        try:
            await self._start_all(rollback_timeout)
        except BaseException:
            self._state = ServiceState.FAILED
            raise
        self._state = ServiceState.RUNNING
        logger().info(
            "services_started", services=len(self._start_order), seconds=round(perf_counter() - began, 6)
        )

    async def _start_all(self, rollback_timeout: float) -> None:
        for entry in self._entries.values():
            if entry.provided:
                self._mark_running(entry, entry.instance, None, 0.0)
        waiting = [entry for entry in self._entries.values() if entry.state is ServiceState.REGISTERED]
        tasks: dict[asyncio.Task[None], ServiceEntry] = {}
        failed: tuple[ServiceEntry, BaseException] | None = None
        try:
            while failed is None:
                for entry in [e for e in waiting if self._ready(e)]:
                    waiting.remove(entry)
                    entry.state = ServiceState.STARTING
                    task = asyncio.create_task(
                        self._start_one(entry), name=f"agentrt.services.start:{entry.definition.name}"
                    )
                    tasks[task] = entry
                if not tasks:
                    break
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                # In launch order, so that the failure reported is the same from run to run.
                for task in [t for t in tasks if t in done]:
                    entry = tasks.pop(task)
                    error = asyncio.CancelledError() if task.cancelled() else task.exception()
                    if error is not None and failed is None:
                        failed = (entry, error)
        except BaseException as interruption:
            # The task running start() was cancelled (or interrupted): undo, then let it propagate.
            reason = f"start was interrupted ({type(interruption).__name__})"
            await shielded(self._abort_start(tasks, reason, rollback_timeout))
            raise
        if failed is None:
            # validate_graph ruled out cycles and missing services, so everything started.
            assert not waiting, f"services never became ready: {[e.definition.name for e in waiting]}"
            return
        entry, cause = failed
        name = entry.definition.name
        logger().error("service_start_failed", service=name, error=describe_error(cause), exc_info=cause)
        stopped, failures = await shielded(
            self._abort_start(tasks, f"{name} failed to start", rollback_timeout)
        )
        message = f"service {name!r} ({type_name(entry.definition.provides)}) failed to start: "
        message += describe_error(cause)
        message += f"; stopped again: {', '.join(stopped)}" if stopped else "; no other service had started"
        if failures:
            message += "; failed to stop: " + ", ".join(
                f"{n} ({describe_error(e)})" for n, e in failures.items()
            )
        raise ServiceStartError(message, service=name) from cause

    def _ready(self, entry: ServiceEntry) -> bool:
        return all(self._entries[dep].state is ServiceState.RUNNING for dep in entry.definition.dependencies)

    async def _start_one(self, entry: ServiceEntry) -> None:
        definition = entry.definition
        dependencies = [self._entries[dep].instance for dep in definition.dependencies]
        instance, iterator, seconds = await open_service(entry, dependencies)
        self._mark_running(entry, instance, iterator, seconds)
        logger().debug(
            "service_started", service=definition.name, version=definition.version, seconds=round(seconds, 6)
        )

    def _mark_running(
        self, entry: ServiceEntry, instance: Any, iterator: AsyncIterator[Any] | None, seconds: float
    ) -> None:
        entry.instance = instance
        entry.iterator = iterator
        entry.start_seconds = seconds
        entry.state = ServiceState.RUNNING
        self._start_order.append(entry)

    async def _abort_start(
        self, tasks: dict[asyncio.Task[None], ServiceEntry], reason: str, seconds: float
    ) -> tuple[list[str], dict[str, BaseException]]:
        """Cancel the starts still running, then stop what started, newest first."""
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task, entry in tasks.items():
            if task.cancelled():
                entry.state = ServiceState.STOPPED
                entry.error = f"start cancelled: {reason}"
            else:
                task.exception()  # retrieved, so asyncio does not log it as never retrieved
        started = [e for e in reversed(self._start_order) if e.state is ServiceState.RUNNING]
        failures = await self._stop_entries(started, seconds)
        return [e.definition.name for e in started if not e.provided], failures

    # --- running -------------------------------------------------------------------------

    def get(self, key: type[T]) -> T:
        """The running instance that serves ``key``; the same one every time until stop.

        ``ServiceNotFound`` if nothing is registered for ``key``;
        ``RuntimeStateError`` if its service is not running.
        """
        entry = self._lookup(key)
        if entry.state is not ServiceState.RUNNING:
            raise RuntimeStateError(self._not_running(entry))
        return cast(T, entry.instance)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._entries
        except TypeError:  # unhashable: certainly not a service key
            return False

    def _lookup(self, key: Any) -> ServiceEntry:
        entry = self._entries.get(key)
        if entry is None:
            registered = ", ".join(type_name(k) for k in self._entries) or "nothing"
            raise ServiceNotFound(
                f"no service provides {type_name(key)}; registered: {registered}", service=type_name(key)
            )
        return entry

    def _not_running(self, entry: ServiceEntry) -> str:
        name = entry.definition.name
        message = f"service {name!r} ({type_name(entry.definition.provides)}) is not running"
        message += f" (state: {entry.state.value})"
        if entry.error:
            message += f": {entry.error}"
        hints = {
            ServiceState.REGISTERED: "; start the container first",
            ServiceState.STARTING: "; the container is still starting",
            ServiceState.STOPPING: "; the container is stopping",
            ServiceState.STOPPED: "; the container was stopped",
            ServiceState.FAILED: "; the container failed to start",
        }
        return message + hints.get(self._state, "")

    async def add(self, service: ServiceLike) -> ServiceDefinition:
        """Register and start one more service in a running container; it stops first at stop.

        The services it needs must be running (else ``ServiceGraphError``). If
        its start fails, it stays listed as ``FAILED`` (and may be added
        again) and ``ServiceStartError`` says why.
        """
        definition = definition_of(service)
        self._require_running("add()")
        async with self._lock:
            self._require_running("add()")  # a stop may have begun while we waited
            key = definition.provides
            name = definition.name
            existing = self._entries.get(key)
            if existing is not None and existing.state is not ServiceState.FAILED:
                raise ServiceError(
                    f"{type_name(key)} is already served by service {existing.definition.name!r} "
                    f"(state: {existing.state.value}); a running container cannot replace a service",
                    service=name,
                )
            self._check_dependencies_running(definition)
            self._put(ServiceEntry(definition), replace=True)
            entry = self._entries[key]
            entry.state = ServiceState.STARTING
            try:
                await self._start_one(entry)
            except Exception as err:
                logger().error("service_start_failed", service=name, error=describe_error(err), exc_info=err)
                raise ServiceStartError(
                    f"service {name!r} ({type_name(key)}) failed to start: {describe_error(err)}",
                    service=name,
                ) from err
        logger().info("service_added", service=name, version=definition.version, origin=definition.origin)
        return definition

    def _check_dependencies_running(self, definition: ServiceDefinition) -> None:
        name = definition.name
        for dep in definition.dependencies:
            dep_entry = self._entries.get(dep)
            if dep == definition.provides:
                raise ServiceGraphError(
                    f"the service cannot start: cycle: {name} -> {name}", chain=(name, name)
                )
            if dep_entry is None:
                registered = ", ".join(
                    f"{type_name(k)} ({e.definition.name})" for k, e in self._entries.items()
                )
                raise ServiceGraphError(
                    f"the service cannot start: missing: {name} needs {type_name(dep)}, which no service "
                    f"provides; registered: {registered or 'nothing'}",
                    chain=(name, type_name(dep)),
                )
            if dep_entry.state is not ServiceState.RUNNING:
                raise ServiceGraphError(
                    f"the service cannot start: {name} needs {type_name(dep)}, whose service "
                    f"{dep_entry.definition.name!r} is not running (state: {dep_entry.state.value})",
                    chain=(name, dep_entry.definition.name),
                )

    # --- stop --------------------------------------------------------------------------

    async def stop(self, *, timeout: float = 10.0, total: float | None = None) -> None:
        """Stop every running service in reverse start order; each cleanup gets ``timeout`` seconds.

        With ``total``, the whole stop is bounded too: each cleanup gets what is
        left of ``total`` when its turn comes (capped by ``timeout``), and never
        less than a short grace, so services late in the order still get to run
        their cleanup rather than being skipped.

        Raises ``ServiceStopError`` listing every failure (a cleanup that raised,
        overran its deadline, or yielded again) once all have been tried.
        Harmless when already stopped, stopping, or never started (the
        container is then closed: it cannot start any more).
        """
        if timeout <= 0:
            raise ValueError(f"stop timeout must be positive, got {timeout!r}")
        first = False
        if self._stop_task is None:
            if self._state is ServiceState.STARTING:
                raise RuntimeStateError(
                    "the service container is starting: cancel the task running start() instead, "
                    "which stops what already started"
                )
            if self._state in (ServiceState.STOPPED, ServiceState.FAILED):
                return
            if self._state is ServiceState.REGISTERED:
                self._state = ServiceState.STOPPED
                return
            self._state = ServiceState.STOPPING
            first = True
            deadline = perf_counter() + total if total is not None else None
            self._stop_task = asyncio.create_task(self._stop_all(timeout, deadline), name="agentrt.services.stop")
        failures = await shielded(self._stop_task)
        if first and failures:
            raise ServiceStopError(failures)

    async def _stop_all(self, seconds: float, deadline: float | None = None) -> dict[str, BaseException]:
        began = perf_counter()
        async with self._lock:  # an add() in flight finishes (and is stopped) first
            failures = await self._stop_entries(list(reversed(self._start_order)), seconds, deadline)
        self._state = ServiceState.STOPPED
        log = logger()
        elapsed = round(perf_counter() - began, 6)
        if failures:
            log.error("services_stopped_with_errors", failures=sorted(failures), seconds=elapsed)
        else:
            log.info("services_stopped", services=len(self._start_order), seconds=elapsed)
        return failures

    async def _stop_entries(
        self, entries: list[ServiceEntry], seconds: float, deadline: float | None = None
    ) -> dict[str, BaseException]:
        failures: dict[str, BaseException] = {}
        for entry in entries:
            if entry.state is not ServiceState.RUNNING:
                continue
            budget = seconds if deadline is None else min(seconds, max(_MIN_STOP_GRACE, deadline - perf_counter()))
            error = await close_service(entry, budget, self._abandoned)
            if error is not None:
                failures[entry.definition.name] = error
        return failures

    async def __aenter__(self) -> ServiceContainer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- introspection -------------------------------------------------------------------

    def info(self) -> list[ServiceInfo]:
        """A snapshot of every service: in start order, then those not started in registration order."""
        return [self._info(entry) for entry in self._ordered()]

    def _ordered(self) -> list[ServiceEntry]:
        started = {id(entry) for entry in self._start_order}
        current = {id(entry) for entry in self._entries.values()}
        return [e for e in self._start_order if id(e) in current] + [
            e for e in self._entries.values() if id(e) not in started
        ]

    def _info(self, entry: ServiceEntry) -> ServiceInfo:
        definition = entry.definition
        dependencies = tuple(
            self._entries[dep].definition.name if dep in self._entries else type_name(dep)
            for dep in definition.dependencies
        )
        return ServiceInfo(
            name=definition.name,
            provides=qualified_type_name(definition.provides),
            version=definition.version,
            state=entry.state,
            dependencies=dependencies,
            origin=definition.origin,
            error=entry.error,
            start_seconds=entry.start_seconds,
        )

    async def health(self, *, timeout: float = 2.0) -> dict[str, HealthReport]:
        """Ask every service how it is, concurrently, each for at most ``timeout`` seconds.

        Keyed by service name, in ``info()`` order. A service that is not
        running is unhealthy; never raises, whatever the container's state.
        """
        entries = self._ordered()

        async def one(entry: ServiceEntry) -> HealthReport:
            if entry.state is not ServiceState.RUNNING:
                detail = f"not running (state: {entry.state.value})"
                return HealthReport(False, f"{detail}: {entry.error}" if entry.error else detail)
            return await check_health(entry.instance, timeout=timeout)

        reports = await asyncio.gather(*(one(entry) for entry in entries))
        return {entry.definition.name: report for entry, report in zip(entries, reports, strict=True)}

    def reconfigurable(self, section: str) -> list[tuple[ServiceDefinition, object]]:
        """The running services that take config section ``section`` and have a ``reconfigure`` method.

        In start order, as (definition, instance) pairs.
        """
        return [
            (entry.definition, entry.instance)
            for entry in self._start_order
            if entry.state is ServiceState.RUNNING
            and entry.definition.config_section == section
            and callable(getattr(entry.instance, "reconfigure", None))
        ]

    # --- state checks ----------------------------------------------------------------------

    def _require_unstarted(self, what: str, hint: str) -> None:
        if self._state is not ServiceState.REGISTERED:
            raise RuntimeStateError(
                f"{what} needs a service container that has not started (state: {self._state.value}); {hint}"
            )

    def _require_running(self, what: str) -> None:
        if self._state is not ServiceState.RUNNING:
            raise RuntimeStateError(
                f"{what} needs a running service container (state: {self._state.value}); "
                "before start, use register()"
            )


def _value_definition(
    key: type[Any],
    value: object,
    *,
    name: str,
    version: str,
    origin: str,
    config_section: str | None = None,
) -> ServiceDefinition:
    async def provided() -> AsyncIterator[Any]:
        yield value

    return ServiceDefinition(
        name=name,
        provides=key,
        factory=provided,
        version=str(version),
        config_section=config_section,
        origin=origin,
    )
