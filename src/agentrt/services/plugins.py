"""Plugins: services and other extensions found through package entry points.

A distribution extends agentrt by declaring entry points, e.g. in its
``pyproject.toml``::

    [project.entry-points."agentrt.services"]
    cache = "agentrt_cache:cache_service"          # a @service function or a ServiceDefinition
    more = "agentrt_cache:services"                # or a zero-argument callable returning several

    [project.entry-points."agentrt.providers"]
    mykind = "agentrt_cache:MyProviderKind"        # any object; the group's reader decides

Nothing is cached: each call reads the installed distributions again (so a
changed ``sys.path`` is seen) and imports what the entry points name. Any
failure to load is a :class:`PluginError` naming the group, the entry point,
the distribution and the underlying error, never a bare ``ImportError``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING

from agentrt.errors import PluginError
from agentrt.services.definition import ServiceDefinition, definition_of, is_definition
from agentrt.services.health import describe_error

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["discover_entry_points", "discover_services"]

SERVICES_GROUP = "agentrt.services"


def discover_entry_points(group: str) -> dict[str, object]:
    """Load every entry point of ``group``: ``{entry point name: loaded object}``, in discovery order.

    Two distributions declaring the same name in one group is a ``PluginError``
    (which one would win depends on ``sys.path`` order: better to say so).
    """
    loaded: dict[str, object] = {}
    sources: dict[str, str] = {}
    for entry_point in _entry_points(group):
        name = entry_point.name
        if name in sources:
            raise PluginError(
                f"entry point {name!r} of group {group!r} is declared by two distributions, "
                f"{sources[name]} and {_distribution(entry_point)}; uninstall one of them",
                group=group,
                name=name,
            )
        sources[name] = _distribution(entry_point)
        loaded[name] = _load(entry_point, group)
    return loaded


def discover_services(group: str = SERVICES_GROUP) -> list[ServiceDefinition]:
    """The service definitions that installed distributions declare in ``group``.

    Each entry point names a ``@service`` function, a ``ServiceDefinition``, or
    a zero-argument callable returning an iterable of them. Each definition's
    ``origin`` is ``plugin:<distribution name>``.
    """
    definitions: list[ServiceDefinition] = []
    for entry_point in _entry_points(group):
        obj = _load(entry_point, group)
        origin = f"plugin:{_distribution(entry_point)}"
        for item in _service_items(obj, entry_point, group):
            try:
                definition = definition_of(item)
            except TypeError as err:
                raise _plugin_error(entry_point, group, f"does not give a service: {err}") from err
            definitions.append(definition.with_origin(origin))
    return definitions


def _service_items(obj: object, entry_point: EntryPoint, group: str) -> list[object]:
    if is_definition(obj) or inspect.isasyncgenfunction(obj):
        return [obj]
    if not callable(obj):
        raise _plugin_error(
            entry_point,
            group,
            f"names a {type(obj).__name__}, not a service, a ServiceDefinition, or a callable returning them",
        )
    try:
        items = obj()
    except Exception as err:
        raise _plugin_error(entry_point, group, f"raised when called: {describe_error(err)}") from err
    if isinstance(items, ServiceDefinition | str | bytes) or not isinstance(items, Iterable):
        raise _plugin_error(
            entry_point, group, f"returned a {type(items).__name__}, not an iterable of service definitions"
        )
    return list(items)


def _entry_points(group: str) -> list[EntryPoint]:
    # importlib.metadata is imported here, not at module level: it costs an import
    # that `import agentrt.services` should not pay when no plugin is looked up.
    from importlib.metadata import entry_points

    # Finders cache directory listings; tests (and hosts) may change sys.path between calls.
    importlib.invalidate_caches()
    return list(entry_points(group=group))


def _load(entry_point: EntryPoint, group: str) -> object:
    try:
        return entry_point.load()
    except Exception as err:  # any import-time failure of a plugin is reported the same way
        raise _plugin_error(entry_point, group, f"could not be loaded: {describe_error(err)}") from err


def _distribution(entry_point: EntryPoint) -> str:
    dist = entry_point.dist
    return dist.name if dist is not None else "unknown distribution"


def _plugin_error(entry_point: EntryPoint, group: str, problem: str) -> PluginError:
    return PluginError(
        f"plugin entry point {entry_point.name!r} = {entry_point.value!r} of group {group!r} "
        f"(from {_distribution(entry_point)}) {problem}",
        group=group,
        name=entry_point.name,
    )
