"""Health checks of running services, and finding the services that take a config section."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentrt.errors import ServiceStartError
from agentrt.services import (
    HealthReport,
    Reconfigurable,
    ServiceContainer,
    ServiceDefinition,
)


def serving(name: str, instance: object, *, config_section: str | None = None) -> ServiceDefinition:
    provides = type(f"{name.capitalize()}Service", (), {})

    async def factory() -> AsyncIterator[Any]:
        yield instance

    return ServiceDefinition(name=name, provides=provides, factory=factory, config_section=config_section)


class SyncHealthy:
    def health(self) -> bool:
        return True


class SyncUnhealthy:
    def health(self) -> bool:
        return False


class AsyncDetail:
    async def health(self) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"connections": 3, "idle": 1}


class Text:
    def health(self) -> str:
        return "leader"


class Raising:
    async def health(self) -> bool:
        raise ConnectionError("redis is gone")


class Slow:
    async def health(self) -> bool:
        await asyncio.sleep(3600)
        return True  # pragma: no cover


class Explicit:
    def health(self) -> HealthReport:
        return HealthReport(False, "degraded: read-only")


class NoCheck:
    health = "not a method"


class Quiet:
    def health(self) -> None:
        return None


async def test_each_kind_of_health_answer_is_understood() -> None:
    container = ServiceContainer()
    for name, instance in [
        ("sync_ok", SyncHealthy()),
        ("sync_bad", SyncUnhealthy()),
        ("async_detail", AsyncDetail()),
        ("text", Text()),
        ("raising", Raising()),
        ("slow", Slow()),
        ("explicit", Explicit()),
        ("no_check", NoCheck()),
        ("plain", object()),
        ("quiet", Quiet()),
    ]:
        container.register(serving(name, instance))

    async with container:
        loop = asyncio.get_running_loop()
        began = loop.time()
        reports = await container.health(timeout=0.05)
        assert loop.time() - began < 1.0

    assert reports == {
        "sync_ok": HealthReport(True),
        "sync_bad": HealthReport(False, "health() returned False"),
        "async_detail": HealthReport(True, "connections=3, idle=1"),
        "text": HealthReport(True, "leader"),
        "raising": HealthReport(False, "ConnectionError: redis is gone"),
        "slow": HealthReport(False, "health check did not answer within 0.05s"),
        "explicit": HealthReport(False, "degraded: read-only"),
        "no_check": HealthReport(True),
        "plain": HealthReport(True),
        "quiet": HealthReport(True),
    }


async def test_slow_checks_run_side_by_side() -> None:
    container = ServiceContainer()
    for i in range(5):
        container.register(serving(f"slow{i}", Slow()))
    async with container:
        loop = asyncio.get_running_loop()
        began = loop.time()
        reports = await container.health(timeout=0.1)
        assert loop.time() - began < 0.4  # five sequential checks would take 0.5 s
    assert not any(report.healthy for report in reports.values())


async def test_a_service_that_is_not_running_is_unhealthy() -> None:
    container = ServiceContainer()
    container.register(serving("fine", SyncHealthy()))
    assert await container.health() == {"fine": HealthReport(False, "not running (state: registered)")}

    async with container:

        async def broken() -> AsyncIterator[object]:
            raise OSError("port in use")
            yield object()  # pragma: no cover

        with pytest.raises(ServiceStartError):
            await container.add(ServiceDefinition(name="broken", provides=OSError, factory=broken))
        reports = await container.health()
        assert reports == {
            "fine": HealthReport(True),
            "broken": HealthReport(False, "not running (state: failed): OSError: port in use"),
        }

    assert await container.health() == {
        "fine": HealthReport(False, "not running (state: stopped)"),
        "broken": HealthReport(False, "not running (state: failed): OSError: port in use"),
    }


class PolicyEngine:
    def __init__(self) -> None:
        self.sections: list[object] = []

    def reconfigure(self, section: object) -> None:
        self.sections.append(section)


class AsyncPolicyCache:
    async def reconfigure(self, section: object) -> None:
        await asyncio.sleep(0)


async def test_reconfigurable_lists_running_services_of_a_section_that_can_reconfigure() -> None:
    engine, cache = PolicyEngine(), AsyncPolicyCache()
    container = ServiceContainer()
    container.register(serving("engine", engine, config_section="policies"))
    container.register(serving("cache", cache, config_section="policies"))
    container.register(serving("static", object(), config_section="policies"))  # no reconfigure
    container.register(serving("models", PolicyEngine(), config_section="models"))
    assert container.reconfigurable("policies") == []  # nothing runs yet

    async with container:
        found = container.reconfigurable("policies")
        assert [(definition.name, instance) for definition, instance in found] == [
            ("engine", engine),
            ("cache", cache),
        ]
        assert all(isinstance(instance, Reconfigurable) for _, instance in found)
        assert [d.name for d, _ in container.reconfigurable("models")] == ["models"]
        assert container.reconfigurable("logging") == []

    assert container.reconfigurable("policies") == []


async def test_a_value_override_keeps_the_config_section_of_what_it_replaces() -> None:
    real = serving("engine", PolicyEngine(), config_section="policies")
    fake = PolicyEngine()
    container = ServiceContainer()
    container.register(real)
    container.override(real.provides, fake)
    async with container:
        assert [(d.name, i) for d, i in container.reconfigurable("policies")] == [("engine", fake)]
