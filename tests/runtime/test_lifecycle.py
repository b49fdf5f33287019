"""Runtime lifecycle: open, current(), states, failures at start, overrides, services added later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentrt import Config, ConfigError, NoRuntimeError, Runtime, RuntimeStateError
from agentrt.runtime import RuntimeState
from agentrt.services import ServiceState, service

QUIET = {"logging": {"console": {"format": "off"}}}


class Greeter:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting


@service(version="3")
async def greeter_service(config: Config) -> AsyncIterator[Greeter]:
    yield Greeter(f"hello from {config.runtime.name}")


async def test_open_starts_services_and_current_finds_the_runtime() -> None:
    rt = Runtime.open({**QUIET, "runtime": {"name": "t1"}}, plugins=False)
    assert rt.state is RuntimeState.NEW
    with pytest.raises(NoRuntimeError):
        Runtime.current()
    async with rt:
        assert rt.state is RuntimeState.RUNNING
        assert Runtime.current() is rt
        assert rt.config.runtime.name == "t1"
        assert rt.config_version == 1
        assert rt.services.get(Config) is rt.config
        names = [info.name for info in rt.services.info()]
        assert "config" in names
        assert "logging" in names
    assert rt.state is RuntimeState.CLOSED
    with pytest.raises(NoRuntimeError):
        Runtime.current()


async def test_a_closed_runtime_cannot_start_again_and_stopping_twice_is_harmless() -> None:
    rt = Runtime.open(QUIET, plugins=False)
    async with rt:
        pass
    await rt.stop()
    with pytest.raises(RuntimeStateError, match="already started"):
        await rt.start()


async def test_current_is_visible_in_tasks_started_inside_the_runtime() -> None:
    import asyncio

    async with Runtime.open(QUIET, plugins=False) as rt:
        found = await asyncio.create_task(_current_name())
        assert found == rt.config.runtime.name


async def _current_name() -> str:
    return Runtime.current().config.runtime.name


async def test_invalid_configuration_raises_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.yaml"
    path.write_text("runtime:\n  shutdown_timeout: soon\nlogging:\n  level: loud\n", encoding="utf-8")
    rt = Runtime.open(path, plugins=False)
    with pytest.raises(ConfigError) as caught:
        await rt.start()
    assert len(caught.value.problems) == 2
    assert rt.state is RuntimeState.CLOSED


async def test_override_replaces_a_service_before_start() -> None:
    rt = Runtime.open(QUIET, plugins=False)
    rt.override(Greeter, Greeter("fake"))
    async with rt:
        assert rt.services.get(Greeter).greeting == "fake"
    with pytest.raises(RuntimeStateError, match="before the runtime starts"):
        rt.override(Greeter, Greeter("late"))


async def test_services_added_after_start_run_at_once_and_stop_with_the_runtime() -> None:
    async with Runtime.open({**QUIET, "runtime": {"name": "added"}}, plugins=False) as rt:
        await rt.services.add(greeter_service)
        assert rt.services.get(Greeter).greeting == "hello from added"
        info = {i.name: i for i in rt.services.info()}["greeter_service"]
        assert info.version == "3"
        assert info.state is ServiceState.RUNNING
    assert {i.name: i for i in rt.services.info()}["greeter_service"].state is ServiceState.STOPPED


async def test_a_failing_service_fails_the_start_and_closes_the_runtime() -> None:
    class Broken:
        pass

    @service
    async def broken_service(config: Config) -> AsyncIterator[Broken]:
        raise RuntimeError("database unreachable")
        yield Broken()  # pragma: no cover

    rt = Runtime.open(QUIET, plugins=False)
    rt.override(Broken, broken_service)
    from agentrt.errors import ServiceStartError

    with pytest.raises(ServiceStartError, match="broken_service"):
        await rt.start()
    assert rt.state is RuntimeState.CLOSED
