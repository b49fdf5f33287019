"""Service definitions: what a service provides, what it needs, and how it lives.

A service is an async generator function, like a pytest fixture or an ASGI
lifespan. Its parameters name, by type annotation, the services it needs; what
it yields is the service instance; the code after the ``yield`` is its cleanup::

    @service(version="1", config_section="policies")
    async def policy_service(config: Config, store: Store) -> AsyncIterator[PolicyService]:
        svc = PolicyService(config.policies, store)   # runs at start, once Config and Store are running
        await svc.load()
        yield svc                                     # live from here: what get(PolicyService) returns ...
        await svc.flush()                             # ... until here, run at stop, after every service
                                                      # that needs PolicyService has stopped

Lifetime of the instance: created once per container start, shared by every
service that names its type and by ``container.get()``, cleaned up once at
stop. A service yields exactly once; if it never yields, its start fails; if it
yields again, its cleanup counts as failed.

Because a service may start in one task and be cleaned up in another (starts
run concurrently), a service must not hold a task group or a cancel scope
open across its ``yield``: start background tasks before it and cancel them
after it.

``@service`` reads the annotations when it decorates (with
``typing.get_type_hints``, so ``from __future__ import annotations`` is fine):
the types a service names must exist by then, at module level or in the
enclosing function. Anything it cannot use is a ``TypeError`` at that moment,
not a surprise at start.
"""

from __future__ import annotations

import collections.abc
import inspect
import sys
import typing
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, overload

__all__ = ["ServiceDefinition", "ServiceFactory", "definition_of", "service", "type_name"]

ServiceFactory = Callable[..., AsyncIterator[Any]]
"""What a service definition calls to start a service: an async generator function."""

F = TypeVar("F", bound=Callable[..., AsyncIterator[Any]])

# Where @service keeps the definition on the function it decorates. The function
# itself is returned unchanged so that it stays callable (and testable) as written.
_DEFINITION_ATTR = "__agentrt_service__"

# Return annotations from which the provided type is read: AsyncIterator[T],
# AsyncGenerator[T, None] and AsyncIterable[T] (typing.X[...] has the same origin).
_ITERATOR_ORIGINS: tuple[Any, ...] = (
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.AsyncIterable,
)


def type_name(key: object) -> str:
    """The short name of a service key, as messages show it (``Store``, ``dict[str, int]``)."""
    if isinstance(key, type) and typing.get_origin(key) is None:
        return key.__qualname__
    return repr(key).replace("typing.", "")


def qualified_type_name(key: object) -> str:
    """The module-qualified name of a service key (``agentrt.store.Store``)."""
    if isinstance(key, type) and typing.get_origin(key) is None:
        module = key.__module__
        return key.__qualname__ if module == "builtins" else f"{module}.{key.__qualname__}"
    return repr(key)


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    """How to start one service, and what it provides and needs.

    ``factory`` is called with one argument per dependency (by keyword, with
    the names in ``parameters``; positionally when ``parameters`` is empty)
    and must return an async iterator that yields the instance once.
    ``dependencies`` are the types of the services it needs, in parameter
    order. ``config_section`` names the configuration section the instance
    takes in ``reconfigure``; ``origin`` says where the definition came from
    (``builtin``, ``plugin:<distribution>``, ``provided``, ``override``).

    Definitions are immutable values; the container keeps the state of each
    started service itself, so one definition may serve several containers.
    """

    name: str
    provides: type[Any]
    factory: ServiceFactory
    dependencies: tuple[type[Any], ...] = ()
    version: str = "0"
    config_section: str | None = None
    origin: str = "builtin"
    parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a service definition needs a non-empty name")
        _check_key(self.provides, f"service {self.name!r}: provides")
        for dep in self.dependencies:
            _check_key(dep, f"service {self.name!r}: dependency")
        if self.parameters and len(self.parameters) != len(self.dependencies):
            raise ValueError(
                f"service {self.name!r}: {len(self.parameters)} parameter names "
                f"for {len(self.dependencies)} dependencies"
            )

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., AsyncIterator[Any]],
        *,
        name: str | None = None,
        version: str = "0",
        provides: type[Any] | None = None,
        config_section: str | None = None,
        origin: str = "builtin",
        localns: Mapping[str, Any] | None = None,
    ) -> ServiceDefinition:
        """Build a definition from an async generator function's signature.

        ``localns`` resolves annotations that name types local to a function
        (``@service`` passes the namespace it was called from).
        """
        label = getattr(fn, "__qualname__", repr(fn))
        if not inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"service {label}: a service must be an async generator function "
                "(`async def` with one `yield` of the instance), "
                f"got {type(fn).__name__}"
            )
        hints = _type_hints(fn, label, localns)
        parameters: list[str] = []
        dependencies: list[type[Any]] = []
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                # Dependencies are passed by keyword, one per named type.
                raise TypeError(
                    f"service {label}: parameter {param.name!r} must be a plain or keyword-only "
                    "parameter annotated with the type of the service it needs"
                )
            if param.name not in hints:
                raise TypeError(
                    f"service {label}: parameter {param.name!r} has no type annotation; "
                    "a service names each service it needs by its type"
                )
            dependencies.append(_check_key(hints[param.name], f"service {label}: parameter {param.name!r}"))
            parameters.append(param.name)
        if provides is None:
            provides = _provided_type(hints.get("return"), label)
        else:
            provides = _check_key(provides, f"service {label}: provides=")
        return cls(
            name=name or fn.__name__,
            provides=provides,
            factory=fn,
            dependencies=tuple(dependencies),
            version=str(version),
            config_section=config_section,
            origin=origin,
            parameters=tuple(parameters),
        )

    def with_origin(self, origin: str) -> ServiceDefinition:
        """This definition, marked as coming from ``origin``."""
        return replace(self, origin=origin)

    def call(self, dependencies: Sequence[object]) -> AsyncIterator[Any]:
        """Call the factory with the dependency instances, in ``dependencies`` order."""
        if self.parameters:
            return self.factory(**dict(zip(self.parameters, dependencies, strict=True)))
        return self.factory(*dependencies)


def _type_hints(fn: Callable[..., Any], label: str, localns: Mapping[str, Any] | None) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, localns=dict(localns) if localns is not None else None)
    except NameError as err:
        raise TypeError(
            f"service {label}: cannot resolve an annotation ({err}); the types a service names "
            "must be defined or imported before the service is decorated"
        ) from err


def _provided_type(annotation: Any, label: str) -> type[Any]:
    hint = "annotate it `-> AsyncIterator[T]` (or `AsyncGenerator[T, None]`) or pass `@service(provides=T)`"
    if annotation is None:
        raise TypeError(f"service {label}: no return annotation says what it provides; {hint}")
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) not in _ITERATOR_ORIGINS or not args:
        raise TypeError(
            f"service {label}: return annotation {type_name(annotation)} does not say "
            f"what it provides; {hint}"
        )
    return _check_key(args[0], f"service {label}: the provided type")


def _check_key(key: Any, what: str) -> type[Any]:
    """Accept classes (including protocols and ABCs) and parametrised generics as service keys."""
    if key is Any or key is None or key is type(None) or isinstance(key, (str, TypeVar)):
        raise TypeError(f"{what}: {key!r} cannot identify a service; use a class")
    if not isinstance(key, type) and typing.get_origin(key) is None:
        raise TypeError(f"{what}: {key!r} cannot identify a service; use a class")
    return typing.cast(type[Any], key)


def _caller_namespace(depth: int) -> dict[str, Any] | None:
    """The locals of the function that called @service, if it was called inside a function.

    Types defined inside a function (common in tests and in factories of
    services) are not in the module globals that ``get_type_hints`` searches;
    pydantic resolves such forward references the same way.
    """
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:  # pragma: no cover - no such frame
        return None
    if frame.f_locals is frame.f_globals:
        return None
    return dict(frame.f_locals)


@overload
def service(fn: F, /) -> F: ...


@overload
def service(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    version: str = "0",
    provides: type[Any] | None = None,
    config_section: str | None = None,
) -> Callable[[F], F]: ...


def service(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    version: str = "0",
    provides: type[Any] | None = None,
    config_section: str | None = None,
) -> F | Callable[[F], F]:
    """Mark an async generator function as a service; usable bare or with arguments.

    The function is returned unchanged, with its :class:`ServiceDefinition`
    attached (read it with :func:`definition_of`); register the function, or
    the definition, with a container.
    """
    # Taken here, not in `decorate`: both `@service` and `@service(...)` are called
    # directly from the scope that defines the function.
    localns = _caller_namespace(1)

    def decorate(f: F) -> F:
        definition = ServiceDefinition.from_function(
            f,
            name=name,
            version=version,
            provides=provides,
            config_section=config_section,
            localns=localns,
        )
        setattr(f, _DEFINITION_ATTR, definition)
        return f

    if fn is None:
        return decorate
    return decorate(fn)


def is_definition(obj: object) -> bool:
    """Whether ``obj`` is a definition or a function decorated with ``@service``."""
    return isinstance(obj, ServiceDefinition) or isinstance(
        getattr(obj, _DEFINITION_ATTR, None), ServiceDefinition
    )


def definition_of(obj: object) -> ServiceDefinition:
    """The definition of ``obj``: a definition, a ``@service`` function, or a plain async generator."""
    if isinstance(obj, ServiceDefinition):
        return obj
    attached = getattr(obj, _DEFINITION_ATTR, None)
    if isinstance(attached, ServiceDefinition):
        return attached
    if inspect.isasyncgenfunction(obj):
        return ServiceDefinition.from_function(obj)
    raise TypeError(
        f"{obj!r} is not a service: pass a ServiceDefinition or an async generator function "
        "decorated with @service"
    )
