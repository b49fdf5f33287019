"""@service and ServiceDefinition: what is read from a function's signature, and what is refused."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

import agentrt.services
from agentrt.services import ServiceDefinition, definition_of, service


class Config:
    pass


class Store:
    pass


class Policies:
    pass


@service(version="1", config_section="policies")
async def policy_service(config: Config, store: Store) -> AsyncIterator[Policies]:
    yield Policies()


def test_decorator_reads_provided_type_and_dependencies_from_annotations() -> None:
    definition = definition_of(policy_service)
    assert definition.name == "policy_service"
    assert definition.provides is Policies
    assert definition.dependencies == (Config, Store)
    assert definition.parameters == ("config", "store")
    assert definition.version == "1"
    assert definition.config_section == "policies"
    assert definition.origin == "builtin"
    assert definition.factory is policy_service


def test_bare_decorator_returns_the_function_unchanged() -> None:
    async def store_service() -> AsyncGenerator[Store, None]:
        yield Store()

    decorated = service(store_service)
    assert decorated is store_service
    definition = definition_of(store_service)
    assert (definition.name, definition.provides, definition.dependencies) == ("store_service", Store, ())
    assert definition.version == "0"
    assert definition.config_section is None


def test_typing_aliases_and_async_iterable_are_understood() -> None:
    @service
    async def a() -> typing.AsyncIterator[Store]:
        yield Store()

    @service
    async def b() -> typing.AsyncGenerator[Config, None]:
        yield Config()

    assert definition_of(a).provides is Store
    assert definition_of(b).provides is Config


def test_name_and_provides_arguments_win_over_the_function() -> None:
    @service(name="the-store", provides=Store)
    async def anything() -> AsyncIterator[object]:
        yield Store()

    @service(provides=Config)
    async def unannotated():  # type: ignore[no-untyped-def]
        yield Config()

    assert (definition_of(anything).name, definition_of(anything).provides) == ("the-store", Store)
    assert definition_of(unannotated).provides is Config


def test_types_local_to_a_function_resolve_under_future_annotations() -> None:
    # This module uses `from __future__ import annotations`: the annotations are strings
    # that only the enclosing function's namespace can resolve.
    class LocalClient:
        pass

    class LocalPool:
        pass

    @service
    async def pool(client: LocalClient) -> AsyncIterator[LocalPool]:
        yield LocalPool()

    definition = definition_of(pool)
    assert definition.provides is LocalPool
    assert definition.dependencies == (LocalClient,)


def test_keyword_only_parameters_are_dependencies() -> None:
    @service
    async def both(*, config: Config, store: Store) -> AsyncIterator[Policies]:
        yield Policies()

    definition = definition_of(both)
    assert definition.dependencies == (Config, Store)
    assert definition.parameters == ("config", "store")


def test_an_unresolvable_annotation_is_a_clear_error_at_decoration() -> None:
    with pytest.raises(TypeError, match=r"cannot resolve an annotation .*DefinedLater"):

        @service
        async def early(x: DefinedLater) -> AsyncIterator[Store]:  # type: ignore[name-defined]  # noqa: F821
            yield Store()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("async def f() -> Store:\n    return Store()", "must be an async generator function"),
        ("def f() -> Store:\n    return Store()", "must be an async generator function"),
        ("async def f(store) -> AsyncIterator[Config]:\n    yield Config()", "parameter 'store' has no type"),
        ("async def f(store: Store):\n    yield Config()", "no return annotation"),
        (
            "async def f() -> Store:\n    yield Store()",
            "return annotation Store does not say what it provides",
        ),
        ("async def f() -> AsyncIterator:\n    yield Store()", "does not say what it provides"),
        ("async def f() -> AsyncIterator[Any]:\n    yield Store()", "cannot identify a service"),
        ("async def f() -> AsyncIterator[None]:\n    yield None", "cannot identify a service"),
        ("async def f(*stores: Store) -> AsyncIterator[Config]:\n    yield Config()", "'stores' must be"),
        ("async def f(**kw: Store) -> AsyncIterator[Config]:\n    yield Config()", "'kw' must be"),
        ("async def f(s: Store, /) -> AsyncIterator[Config]:\n    yield Config()", "'s' must be"),
    ],
)
def test_unusable_functions_are_refused_at_decoration(source: str, message: str) -> None:
    namespace: dict[str, Any] = {
        "AsyncIterator": AsyncIterator,
        "Any": Any,
        "Store": Store,
        "Config": Config,
    }
    exec(source, namespace)
    with pytest.raises(TypeError, match=message):
        service(namespace["f"])


def test_definition_of_accepts_definitions_and_plain_async_generators() -> None:
    async def plain(config: Config) -> AsyncIterator[Store]:
        yield Store()

    definition = definition_of(plain)
    assert definition.provides is Store
    assert definition_of(definition) is definition
    with pytest.raises(TypeError, match="is not a service"):
        definition_of(object())


def test_definitions_are_frozen_values() -> None:
    definition = definition_of(policy_service)
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.name = "other"  # type: ignore[misc]
    moved = definition.with_origin("plugin:somewhere")
    assert moved.origin == "plugin:somewhere"
    assert definition.origin == "builtin"


async def test_a_hand_built_definition_gets_its_dependencies_positionally() -> None:
    seen: list[object] = []

    async def factory(*deps: object) -> AsyncIterator[Store]:
        seen.extend(deps)
        yield Store()

    config = Config()
    definition = ServiceDefinition(name="store", provides=Store, factory=factory, dependencies=(Config,))
    iterator = definition.call([config])
    assert isinstance(await anext(iterator), Store)
    assert seen == [config]
    with pytest.raises(StopAsyncIteration):
        await anext(iterator)


def test_inconsistent_hand_built_definitions_are_refused() -> None:
    async def factory() -> AsyncIterator[Store]:
        yield Store()

    with pytest.raises(ValueError, match="non-empty name"):
        ServiceDefinition(name="", provides=Store, factory=factory)
    with pytest.raises(TypeError, match="'x': provides: 'Store' cannot identify a service"):
        ServiceDefinition(name="x", provides="Store", factory=factory)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"'x': dependency: typing\.Any cannot identify a service"):
        ServiceDefinition(name="x", provides=Store, factory=factory, dependencies=(Any,))
    with pytest.raises(ValueError, match="2 parameter names for 1 dependencies"):
        ServiceDefinition(
            name="x", provides=Store, factory=factory, dependencies=(Config,), parameters=("a", "b")
        )


def test_public_names_are_what_all_says() -> None:
    exported = set(agentrt.services.__all__)
    for name in exported:
        assert getattr(agentrt.services, name) is not None
    public = {
        name
        for name, value in vars(agentrt.services).items()
        if not name.startswith("_") and not isinstance(value, type(agentrt.services))
    }
    assert public == exported


def test_import_is_light() -> None:
    code = (
        "import sys, agentrt.services\n"
        "heavy = [m for m in ('pydantic', 'structlog', 'importlib.metadata', 'yaml') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env_with_src()
    )
    assert result.stdout.strip() == ""


def _env_with_src() -> dict[str, str]:
    import os
    from pathlib import Path

    src = str(Path(agentrt.services.__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env
