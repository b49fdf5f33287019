"""Stopping a container: reverse order, deadlines, every failure collected and logged, safe to repeat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from agentrt.errors import RuntimeStateError, ServiceStopError
from agentrt.services import ServiceContainer, ServiceDefinition, ServiceState


def make_type(name: str) -> type[Any]:
    return type(name, (), {"__module__": __name__})


def with_cleanup(
    log: list[str],
    name: str,
    cleanup: Callable[[], Any] | None = None,
    needs: Sequence[type[Any]] = (),
) -> ServiceDefinition:
    """A service whose cleanup awaits ``cleanup()`` (if given) and logs how it ended."""
    provides = make_type(name.capitalize())

    async def factory(*deps: Any) -> AsyncIterator[Any]:
        yield provides()
        try:
            if cleanup is not None:
                await cleanup()
        except asyncio.CancelledError:
            log.append(f"cancelled {name}")
            raise
        log.append(f"stop {name}")

    return ServiceDefinition(name=name, provides=provides, factory=factory, dependencies=tuple(needs))


async def test_a_cleanup_that_hangs_is_cancelled_at_the_deadline_and_the_others_still_stop() -> None:
    log: list[str] = []
    container = ServiceContainer()
    container.register(with_cleanup(log, "first"))
    container.register(with_cleanup(log, "hangs", lambda: asyncio.sleep(3600)))
    container.register(with_cleanup(log, "last"))
    await container.start()

    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(ServiceStopError) as caught:
        await container.stop(timeout=0.1)

    assert loop.time() - began < 1.0
    assert log == ["stop last", "cancelled hangs", "stop first"]
    assert list(caught.value.failures) == ["hangs"]
    failure = caught.value.failures["hangs"]
    assert isinstance(failure, TimeoutError)
    assert "did not finish within 0.1s and was cancelled" in str(failure)
    assert "hangs: TimeoutError" in str(caught.value)
    states = {info.name: info.state for info in container.info()}
    assert states == {
        "first": ServiceState.STOPPED,
        "hangs": ServiceState.FAILED,
        "last": ServiceState.STOPPED,
    }
    assert container.state is ServiceState.STOPPED


async def test_a_cleanup_that_ignores_its_cancellation_is_abandoned() -> None:
    log: list[str] = []
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            log.append("ignored the cancellation")
            await release.wait()

    container = ServiceContainer()
    container.register(with_cleanup(log, "stubborn", stubborn))
    container.register(with_cleanup(log, "other"))
    await container.start()

    with pytest.raises(ServiceStopError) as caught:
        async with asyncio.timeout(2):
            await container.stop(timeout=0.05)

    assert "ignored its cancellation; abandoned" in str(caught.value.failures["stubborn"])
    assert log == ["stop other", "ignored the cancellation"]
    release.set()  # let the abandoned cleanup end, so the test leaves no task behind
    for _ in range(10):
        await asyncio.sleep(0)
    assert log[-1] == "stop stubborn"


async def test_every_stop_failure_is_collected_and_logged() -> None:
    log: list[str] = []

    async def fail(message: str) -> None:
        raise RuntimeError(message)

    class Twice:
        pass

    async def yields_twice() -> AsyncIterator[Twice]:
        yield Twice()
        log.append("cleanup of twice")
        yield Twice()
        log.append("never reached")  # pragma: no cover

    container = ServiceContainer()
    container.register(with_cleanup(log, "ok1"))
    container.register(with_cleanup(log, "bad1", lambda: fail("first")))
    container.register(ServiceDefinition(name="twice", provides=Twice, factory=yields_twice))
    container.register(with_cleanup(log, "bad2", lambda: fail("second")))
    container.register(with_cleanup(log, "ok2"))
    await container.start()

    with capture_logs() as logs, pytest.raises(ServiceStopError) as caught:
        await container.stop()

    failures = caught.value.failures
    assert sorted(failures) == ["bad1", "bad2", "twice"]
    assert str(failures["bad1"]) == "first"
    assert str(failures["bad2"]) == "second"
    assert "yielded a second time" in str(failures["twice"])
    assert log == ["stop ok2", "cleanup of twice", "stop ok1"]
    logged_failures = [entry["service"] for entry in logs if entry["event"] == "service_stop_failed"]
    assert logged_failures == ["bad2", "twice", "bad1"]
    assert all(entry["log_level"] == "error" for entry in logs if entry["event"] == "service_stop_failed")
    summary = next(entry for entry in logs if entry["event"] == "services_stopped_with_errors")
    assert summary["failures"] == ["bad1", "bad2", "twice"]


async def test_a_service_stops_only_after_what_needs_it() -> None:
    log: list[str] = []
    base = with_cleanup(log, "base")
    # Registered first, and slower to clean up: still it must go before base.
    user = with_cleanup(log, "user", lambda: asyncio.sleep(0.02), needs=[base.provides])
    container = ServiceContainer()
    container.register(user)
    container.register(base)
    async with container:
        pass
    assert log == ["stop user", "stop base"]


async def test_stopping_twice_and_concurrently_is_harmless() -> None:
    log: list[str] = []
    container = ServiceContainer()
    container.register(with_cleanup(log, "slow", lambda: asyncio.sleep(0.05)))
    await container.start()
    await asyncio.gather(container.stop(), container.stop())
    await container.stop()
    assert log == ["stop slow"]
    assert container.state is ServiceState.STOPPED


async def test_only_the_first_stop_reports_the_failures() -> None:
    async def fail() -> None:
        raise RuntimeError("broken")

    container = ServiceContainer()
    container.register(with_cleanup([], "bad", fail))
    await container.start()
    with pytest.raises(ServiceStopError):
        await container.stop()
    await container.stop()


async def test_stopping_a_never_started_container_is_harmless() -> None:
    log: list[str] = []
    container = ServiceContainer()
    container.register(with_cleanup(log, "never"))
    await container.stop()
    await container.stop()
    assert log == []


async def test_a_cancelled_stop_still_stops_everything_then_reraises() -> None:
    log: list[str] = []
    container = ServiceContainer()
    container.register(with_cleanup(log, "a", lambda: asyncio.sleep(0.05)))
    container.register(with_cleanup(log, "b", lambda: asyncio.sleep(0.05)))
    await container.start()

    stopping = asyncio.create_task(container.stop())
    await asyncio.sleep(0.01)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping

    assert log == ["stop b", "stop a"]
    assert container.state is ServiceState.STOPPED


async def test_stop_while_starting_is_refused() -> None:
    gate = asyncio.Event()
    slow = make_type("Slow")

    async def factory() -> AsyncIterator[Any]:
        await gate.wait()
        yield slow()

    container = ServiceContainer()
    container.register(ServiceDefinition(name="slow", provides=slow, factory=factory))
    starting = asyncio.create_task(container.start())
    await asyncio.sleep(0)
    assert container.state is ServiceState.STARTING
    with pytest.raises(RuntimeStateError, match="cancel the task running start"):
        await container.stop()
    gate.set()
    await starting
    await container.stop()


async def test_stop_refuses_a_deadline_that_is_not_positive() -> None:
    container = ServiceContainer()
    with pytest.raises(ValueError, match="positive"):
        await container.stop(timeout=0)


async def test_using_a_stopped_container_is_a_clear_error() -> None:
    thing = make_type("Thing")
    container = ServiceContainer()
    container.provide(thing, thing())
    async with container:
        assert isinstance(container.get(thing), thing)
    with pytest.raises(
        RuntimeStateError, match=r"is not running \(state: stopped\); the container was stopped"
    ):
        container.get(thing)
    with pytest.raises(RuntimeStateError, match="needs a running service container"):
        await container.add(with_cleanup([], "late"))
    with pytest.raises(RuntimeStateError):
        container.provide(make_type("Other"), object())
    with pytest.raises(RuntimeStateError):
        container.override(thing, thing())


async def test_a_total_budget_bounds_the_whole_stop_and_later_services_still_get_a_grace() -> None:
    log: list[str] = []
    container = ServiceContainer()
    container.register(with_cleanup(log, "first"))
    container.register(with_cleanup(log, "hangs_a", lambda: asyncio.sleep(3600)))
    container.register(with_cleanup(log, "hangs_b", lambda: asyncio.sleep(3600)))
    await container.start()

    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(ServiceStopError) as caught:
        await container.stop(timeout=60, total=0.3)

    # Without the total budget each hanging cleanup would take its full 60 s.
    assert loop.time() - began < 10
    assert sorted(caught.value.failures) == ["hangs_a", "hangs_b"]
    assert log == ["cancelled hangs_b", "cancelled hangs_a", "stop first"]
