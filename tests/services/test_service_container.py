"""Using a container: get, provide, register, override, add, info."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentrt.errors import (
    RuntimeStateError,
    ServiceError,
    ServiceGraphError,
    ServiceNotFound,
    ServiceStartError,
)
from agentrt.services import ServiceContainer, ServiceInfo, ServiceState, service


class Config:
    def __init__(self, name: str = "real") -> None:
        self.name = name


class Store:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.closed = False


class Policies:
    def __init__(self, store: Store) -> None:
        self.store = store


class Cache:
    pass


LOG: list[str] = []


@service(version="3")
async def store_service(config: Config) -> AsyncIterator[Store]:
    LOG.append("start store")
    store = Store(config)
    yield store
    store.closed = True
    LOG.append("stop store")


@service(version="1.2", config_section="policies")
async def policy_service(store: Store) -> AsyncIterator[Policies]:
    LOG.append("start policies")
    yield Policies(store)
    LOG.append("stop policies")


@service
async def cache_service(store: Store) -> AsyncIterator[Cache]:
    LOG.append("start cache")
    yield Cache()
    LOG.append("stop cache")


@pytest.fixture(autouse=True)
def clear_log() -> None:
    LOG.clear()


def build() -> ServiceContainer:
    container = ServiceContainer()
    container.provide(Config, Config(), name="config", version="7")
    container.register(policy_service)
    container.register(store_service)
    return container


async def test_get_returns_the_same_typed_instance_that_dependants_received() -> None:
    async with build() as container:
        store = container.get(Store)
        assert container.get(Store) is store
        assert container.get(Policies).store is store
        assert store.config is container.get(Config)
    assert store.closed


async def test_get_of_an_unknown_type_names_it_and_the_registered_ones() -> None:
    async with build() as container:
        with pytest.raises(ServiceNotFound) as caught:
            container.get(Cache)
    assert str(caught.value) == "no service provides Cache; registered: Config, Policies, Store"
    assert isinstance(caught.value, LookupError)


async def test_get_before_start_is_a_state_error() -> None:
    container = build()
    with pytest.raises(
        RuntimeStateError, match=r"'store_service' \(Store\) is not running.*start the container"
    ):
        container.get(Store)


def test_contains_tells_whether_a_type_is_served() -> None:
    container = build()
    assert Store in container
    assert Config in container
    assert Cache not in container
    assert [] not in container  # unhashable: simply not a key


def test_registering_a_type_twice_is_an_error_unless_replacing() -> None:
    container = build()
    with pytest.raises(
        ServiceError, match=r"Store is already served by service 'store_service'.*replace=True"
    ):
        container.register(store_service)

    @service(name="other_store")
    async def other_store(config: Config) -> AsyncIterator[Store]:
        yield Store(config)

    container.register(other_store, replace=True)
    assert [info.name for info in container.info()] == ["config", "policy_service", "other_store"]


def test_service_names_are_unique() -> None:
    container = build()

    @service(name="store_service")
    async def impostor() -> AsyncIterator[Cache]:
        yield Cache()

    with pytest.raises(ServiceError, match="a service named 'store_service' already serves Store"):
        container.register(impostor)


async def test_override_with_a_value_replaces_the_service_before_start() -> None:
    fake = Store(Config("fake"))
    container = build()
    container.override(Store, fake)
    async with container:
        assert container.get(Store) is fake
        assert container.get(Policies).store is fake
    assert LOG == ["start policies", "stop policies"]  # the real store never ran
    info = {i.name: i for i in container.info()}
    assert info["store_service"].origin == "override"
    assert info["store_service"].version == "3"


async def test_override_with_a_definition_is_started_like_any_service() -> None:
    @service
    async def fake_store() -> AsyncIterator[Store]:
        LOG.append("start fake")
        yield Store(Config("fake"))
        LOG.append("stop fake")

    container = build()
    container.override(Store, fake_store)
    async with container:
        assert container.get(Store).config.name == "fake"
    assert LOG == ["start fake", "start policies", "stop policies", "stop fake"]


async def test_override_of_an_unregistered_type_adds_it_and_override_after_start_is_refused() -> None:
    container = ServiceContainer()
    container.override(Config, Config("only"))
    container.register(store_service)
    async with container:
        assert container.get(Store).config.name == "only"
        with pytest.raises(RuntimeStateError, match="before the container starts"):
            container.override(Store, Store(Config()))


async def test_register_after_start_is_refused_with_a_pointer_to_add() -> None:
    async with build() as container:
        with pytest.raises(RuntimeStateError, match="use add"):
            container.register(cache_service)


async def test_add_starts_a_service_at_once_and_it_stops_first() -> None:
    container = build()
    async with container:
        definition = await container.add(cache_service)
        assert definition.name == "cache_service"
        assert isinstance(container.get(Cache), Cache)
        assert [info.name for info in container.info()][-1] == "cache_service"
        assert LOG[-1] == "start cache"
    assert LOG[-3:] == ["stop cache", "stop policies", "stop store"]


async def test_provide_while_running_serves_the_value_at_once() -> None:
    container = build()
    async with container:
        cache = Cache()
        container.provide(Cache, cache)
        assert container.get(Cache) is cache
        with pytest.raises(ServiceError, match="cannot replace"):
            container.provide(Store, Store(Config()))


async def test_add_needs_its_dependencies_running() -> None:
    class Orphan:
        pass

    @service
    async def orphan(cache: Cache) -> AsyncIterator[Orphan]:
        yield Orphan()

    async with build() as container:
        with pytest.raises(
            ServiceGraphError, match="missing: orphan needs Cache, which no service provides"
        ) as c:
            await container.add(orphan)
        assert c.value.chain == ("orphan", "Cache")
        assert Orphan not in container


async def test_add_of_a_served_type_is_refused() -> None:
    async with build() as container:
        with pytest.raises(ServiceError, match="Store is already served"):
            await container.add(store_service)


async def test_add_before_start_is_refused() -> None:
    with pytest.raises(RuntimeStateError, match="before start, use register"):
        await build().add(cache_service)


async def test_a_failed_add_is_reported_listed_and_may_be_retried() -> None:
    attempts: list[int] = []

    @service
    async def flaky(store: Store) -> AsyncIterator[Cache]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("not yet")
        yield Cache()

    async with build() as container:
        with pytest.raises(
            ServiceStartError, match=r"'flaky' .* failed to start: ConnectionError: not yet"
        ) as c:
            await container.add(flaky)
        assert isinstance(c.value.__cause__, ConnectionError)
        failed = container.info()[-1]
        assert (failed.name, failed.state, failed.error) == (
            "flaky",
            ServiceState.FAILED,
            "ConnectionError: not yet",
        )
        with pytest.raises(RuntimeStateError, match="not yet"):
            container.get(Cache)
        await container.add(flaky)
        assert isinstance(container.get(Cache), Cache)


async def test_a_stop_waits_for_an_add_in_flight() -> None:
    gate = asyncio.Event()

    @service
    async def slow_cache(store: Store) -> AsyncIterator[Cache]:
        await gate.wait()
        yield Cache()
        LOG.append("stop slow cache")

    container = build()
    await container.start()
    adding = asyncio.create_task(container.add(slow_cache))
    await asyncio.sleep(0)
    stopping = asyncio.create_task(container.stop())
    await asyncio.sleep(0)
    gate.set()
    await adding
    await stopping
    assert LOG[-3:] == ["stop slow cache", "stop policies", "stop store"]


async def test_info_lists_versions_states_and_dependencies_in_start_order() -> None:
    container = build()
    before = container.info()
    assert [i.name for i in before] == ["config", "policy_service", "store_service"]
    assert all(i.state is ServiceState.REGISTERED for i in before)

    async with container:
        await container.add(cache_service)
        running = container.info()

    assert [i.name for i in running] == ["config", "store_service", "policy_service", "cache_service"]
    store_info = running[1]
    assert store_info == ServiceInfo(
        name="store_service",
        provides=f"{__name__}.Store",
        version="3",
        state=ServiceState.RUNNING,
        dependencies=("config",),
        origin="builtin",
        error=None,
        start_seconds=store_info.start_seconds,
    )
    assert store_info.start_seconds is not None
    assert store_info.start_seconds >= 0
    assert {i.name: i.version for i in running} == {
        "config": "7",
        "store_service": "3",
        "policy_service": "1.2",
        "cache_service": "0",
    }
    assert running[0].origin == "provided"
    assert running[2].dependencies == ("store_service",)
    assert all(i.state is ServiceState.STOPPED for i in container.info())


def test_info_names_a_missing_dependency_by_its_type() -> None:
    container = ServiceContainer()
    container.register(policy_service)
    assert container.info()[0].dependencies == ("Store",)


def test_repr_shows_the_state() -> None:
    assert repr(build()) == "<ServiceContainer registered, 3 services>"


async def test_dependencies_get_instances_not_definitions_through_any_parameter_style() -> None:
    received: dict[str, Any] = {}

    @service
    async def keyword_only(*, store: Store, config: Config) -> AsyncIterator[Cache]:
        received.update(store=store, config=config)
        yield Cache()

    container = build()
    container.register(keyword_only)
    async with container:
        assert received == {"store": container.get(Store), "config": container.get(Config)}
