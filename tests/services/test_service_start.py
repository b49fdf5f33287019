"""Starting a container: dependency order, concurrency, rollback of a failed or cancelled start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from agentrt.errors import RuntimeStateError, ServiceGraphError, ServiceStartError
from agentrt.services import ServiceContainer, ServiceDefinition, ServiceState, service


def make_type(name: str) -> type[Any]:
    return type(name, (), {"__module__": __name__})


def logged(
    log: list[str],
    name: str,
    provides: type[Any],
    needs: Sequence[type[Any]] = (),
    *,
    start_error: BaseException | None = None,
    start_gate: asyncio.Event | None = None,
) -> ServiceDefinition:
    """A service that writes its life to ``log``: begin, ready (just before yield), stop, cancelled."""

    async def factory(*deps: Any) -> AsyncIterator[Any]:
        log.append(f"begin {name}")
        try:
            if start_gate is not None:
                await start_gate.wait()
            if start_error is not None:
                raise start_error
        except asyncio.CancelledError:
            log.append(f"cancelled {name}")
            raise
        instance = provides()
        instance.deps = deps
        log.append(f"ready {name}")
        yield instance
        log.append(f"stop {name}")

    return ServiceDefinition(name=name, provides=provides, factory=factory, dependencies=tuple(needs))


def events(log: list[str], kind: str) -> list[str]:
    return [entry.split(" ", 1)[1] for entry in log if entry.startswith(kind + " ")]


def assert_dependency_order(log: list[str], needs: dict[str, Sequence[str]]) -> None:
    """Every service began only after each service it needs was ready, and stopped before them."""
    for name, deps in needs.items():
        for dep in deps:
            assert log.index(f"ready {dep}") < log.index(f"begin {name}"), (name, dep, log)
            assert log.index(f"stop {name}") < log.index(f"stop {dep}"), (name, dep, log)


async def test_a_deep_chain_starts_in_dependency_order_and_stops_in_reverse() -> None:
    log: list[str] = []
    types = [make_type(f"T{i}") for i in range(6)]
    container = ServiceContainer()
    # Registered newest-first, so registration order alone would start them wrongly.
    for i in reversed(range(6)):
        container.register(logged(log, f"s{i}", types[i], types[:i][-1:]))
    await container.start()
    assert events(log, "ready") == [f"s{i}" for i in range(6)]
    assert container.get(types[5]).deps == (container.get(types[4]),)
    await container.stop()
    assert events(log, "stop") == [f"s{i}" for i in reversed(range(6))]


async def test_a_diamond_starts_in_dependency_order_and_stops_in_reverse_start_order() -> None:
    log: list[str] = []

    class Base:
        pass

    class Left:
        pass

    class Right:
        pass

    class Top:
        pass

    def note(event: str) -> None:
        log.append(event)

    @service
    async def base() -> AsyncIterator[Base]:
        note("begin base")
        await asyncio.sleep(0.01)
        note("ready base")
        yield Base()
        note("stop base")

    @service
    async def left(b: Base) -> AsyncIterator[Left]:
        note("begin left")
        await asyncio.sleep(0.02)
        note("ready left")
        yield Left()
        note("stop left")

    @service
    async def right(b: Base) -> AsyncIterator[Right]:
        note("begin right")
        note("ready right")
        yield Right()
        note("stop right")

    @service
    async def top(left: Left, right: Right) -> AsyncIterator[Top]:
        note("begin top")
        note("ready top")
        yield Top()
        note("stop top")

    container = ServiceContainer()
    for fn in (top, left, right, base):
        container.register(fn)
    async with container:
        assert [info.name for info in container.info()] == ["base", "right", "left", "top"]
        # left and right both began before either was ready: they started side by side.
        assert log.index("begin left") < log.index("ready right")
    assert_dependency_order(log, {"left": ["base"], "right": ["base"], "top": ["left", "right"]})
    assert events(log, "stop") == ["top", "left", "right", "base"]


async def test_independent_services_start_concurrently() -> None:
    # Each start waits for an event that only the other start sets: both can finish only
    # if they run at the same time. The timeout turns a sequential start into a clean failure.
    first_began, second_began = asyncio.Event(), asyncio.Event()

    class First:
        pass

    class Second:
        pass

    @service
    async def first() -> AsyncIterator[First]:
        first_began.set()
        await second_began.wait()
        yield First()

    @service
    async def second() -> AsyncIterator[Second]:
        second_began.set()
        await first_began.wait()
        yield Second()

    container = ServiceContainer()
    container.register(first)
    container.register(second)
    async with asyncio.timeout(2):
        await container.start()
    assert container.state is ServiceState.RUNNING
    await container.stop()


async def test_a_failed_start_stops_the_started_services_in_reverse_and_names_the_failure() -> None:
    log: list[str] = []
    a, b, c = make_type("A"), make_type("B"), make_type("C")
    container = ServiceContainer()
    container.register(logged(log, "a", a))
    container.register(logged(log, "b", b, [a]))
    cause = ValueError("the disk is full")
    container.register(logged(log, "c", c, [b], start_error=cause))

    with pytest.raises(ServiceStartError) as caught:
        await container.start()

    error = caught.value
    assert error.service == "c"
    assert error.__cause__ is cause
    assert "service 'c' (C) failed to start: ValueError: the disk is full" in str(error)
    assert "stopped again: b, a" in str(error)
    assert log == ["begin a", "ready a", "begin b", "ready b", "begin c", "stop b", "stop a"]
    assert container.state is ServiceState.FAILED
    states = {info.name: (info.state, info.error) for info in container.info()}
    assert states == {
        "a": (ServiceState.STOPPED, None),
        "b": (ServiceState.STOPPED, None),
        "c": (ServiceState.FAILED, "ValueError: the disk is full"),
    }
    with pytest.raises(RuntimeStateError, match="already started"):
        await container.start()
    await container.stop()  # harmless after a failed start


async def test_a_failed_start_cancels_the_starts_still_running() -> None:
    log: list[str] = []
    quick, slow, broken = make_type("Quick"), make_type("Slow"), make_type("Broken")
    never = asyncio.Event()
    container = ServiceContainer()
    container.register(logged(log, "quick", quick))
    container.register(logged(log, "slow", slow, start_gate=never))
    container.register(logged(log, "broken", broken, [quick], start_error=RuntimeError("no")))

    async with asyncio.timeout(2):
        with pytest.raises(ServiceStartError, match="'broken'"):
            await container.start()

    assert "cancelled slow" in log
    assert "ready slow" not in log
    assert log[-1] == "stop quick"
    slow_info = next(info for info in container.info() if info.name == "slow")
    assert slow_info.state is ServiceState.STOPPED
    assert slow_info.error == "start cancelled: broken failed to start"


async def test_cancelling_start_rolls_back_what_had_started() -> None:
    log: list[str] = []
    ready, stuck = make_type("Ready"), make_type("Stuck")
    container = ServiceContainer()
    container.register(logged(log, "ready", ready))
    container.register(logged(log, "stuck", stuck, [ready], start_gate=asyncio.Event()))

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await container.start()

    assert log == ["begin ready", "ready ready", "begin stuck", "cancelled stuck", "stop ready"]
    assert container.state is ServiceState.FAILED


async def test_a_service_that_never_yields_fails_its_start() -> None:
    class Nothing:
        pass

    @service
    async def empty() -> AsyncIterator[Nothing]:
        if False:  # pragma: no cover - an async generator that returns at once
            yield Nothing()

    container = ServiceContainer()
    container.register(empty)
    with pytest.raises(ServiceStartError, match="ended without yielding its instance"):
        await container.start()


async def test_a_factory_that_is_not_an_async_generator_fails_its_start() -> None:
    class Thing:
        pass

    async def coroutine() -> Thing:
        return Thing()

    container = ServiceContainer()
    container.register(ServiceDefinition(name="thing", provides=Thing, factory=coroutine))  # type: ignore[arg-type]
    with pytest.raises(ServiceStartError, match="not an async generator"):
        await container.start()


async def test_a_cycle_is_reported_with_its_chain_and_nothing_starts() -> None:
    log: list[str] = []
    a, b, c = make_type("A"), make_type("B"), make_type("C")
    container = ServiceContainer()
    container.register(logged(log, "a", a, [b]))
    container.register(logged(log, "b", b, [c]))
    container.register(logged(log, "c", c, [a]))

    with pytest.raises(ServiceGraphError) as caught:
        await container.start()

    assert "cycle: a -> b -> c -> a" in str(caught.value)
    assert caught.value.chain == ("a", "b", "c", "a")
    assert log == []
    assert container.state is ServiceState.REGISTERED

    # The graph can be mended and the container started after all.
    container.register(logged(log, "c", c), replace=True)
    async with container:
        assert events(log, "ready") == ["c", "b", "a"]


async def test_a_service_that_needs_itself_is_a_cycle() -> None:
    loop = make_type("Loop")
    container = ServiceContainer()
    container.register(logged([], "loop", loop, [loop]))
    with pytest.raises(ServiceGraphError, match=r"cycle: loop -> loop"):
        await container.start()


async def test_a_missing_dependency_is_reported_with_what_is_registered_and_nothing_starts() -> None:
    log: list[str] = []
    config, store, policies = make_type("Config"), make_type("Store"), make_type("PolicyService")
    container = ServiceContainer()
    container.provide(config, config(), name="config")
    container.register(logged(log, "policy_service", policies, [config, store]))

    with pytest.raises(ServiceGraphError) as caught:
        await container.start()

    message = str(caught.value)
    assert "missing: policy_service needs Store, which no service provides" in message
    assert "registered: Config (config), PolicyService (policy_service)" in message
    assert caught.value.chain == ("policy_service", "Store")
    assert caught.value.service == "policy_service"
    assert log == []


async def test_every_graph_problem_is_reported_at_once() -> None:
    a, b, x, y = make_type("A"), make_type("B"), make_type("X"), make_type("Y")
    container = ServiceContainer()
    container.register(logged([], "a", a, [x, b]))
    container.register(logged([], "b", b, [a, y]))
    with pytest.raises(ServiceGraphError) as caught:
        await container.start()
    message = str(caught.value)
    assert "missing: a needs X" in message
    assert "missing: b needs Y" in message
    assert "cycle: a -> b -> a" in message


async def test_starting_twice_is_an_error() -> None:
    container = ServiceContainer()
    await container.start()
    with pytest.raises(RuntimeStateError, match="already started"):
        await container.start()
    await container.stop()
    with pytest.raises(RuntimeStateError, match="already started"):
        await container.start()


async def test_a_container_that_was_stopped_before_starting_stays_closed() -> None:
    container = ServiceContainer()
    await container.stop()
    assert container.state is ServiceState.STOPPED
    with pytest.raises(RuntimeStateError):
        await container.start()
    with pytest.raises(RuntimeStateError):
        container.register(logged([], "a", make_type("A")))
