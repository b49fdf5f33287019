"""What one reload applies, and the configuration that is live afterwards.

A reload diffs the configuration in force against the file, hands each changed
section to the services that take it (``reconfigure``), and keeps an exact
account: a section no service takes, a setting a service reports it could not
take (``reconfigure`` may return the dotted paths it left for a restart), and a
section whose service failed are not live. ``rt.config`` then shows the running
values for those paths, never the file's, and ``rt.pending_restart`` names them
until a restart applies them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from pydantic import ValidationError

from agentrt.config import Config, ConfigChange
from agentrt.config._paths import Loc, parse_path
from agentrt.errors import ConfigProblem
from agentrt.services import ServiceContainer

__all__ = ["ReloadResult", "SectionsApplied", "apply_sections", "live_config"]

_log = structlog.get_logger("agentrt.runtime")

# Sections the runtime applies itself on reload, whatever services are registered.
RUNTIME_OWNED_SECTIONS = frozenset({"runtime", "logging"})
# A change here is already folded into the other sections by the overlay; it needs nothing of its own.
OVERLAY_SECTIONS = frozenset({"environments"})


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one reload did. ``applied`` is False when the new configuration was rejected.

    ``reconfigured`` names the sections of which something was applied;
    ``restart_required`` the changed paths that are not live and wait for a restart
    (also when an earlier reload already reported them); ``failures`` the services
    whose ``reconfigure`` raised (their section stays as it was).
    """

    applied: bool
    version: int
    changes: tuple[ConfigChange, ...] = ()
    reconfigured: tuple[str, ...] = ()
    restart_required: tuple[str, ...] = ()
    problems: tuple[ConfigProblem, ...] = ()
    failures: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SectionsApplied:
    """The account of one reload, section by section."""

    reconfigured: list[str] = field(default_factory=list)
    restart_required: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    not_live: list[str] = field(default_factory=list)
    """Every changed path that is not live: the pending ones and those of failed sections."""


async def apply_sections(
    changes: tuple[ConfigChange, ...],
    new: Config,
    services: ServiceContainer,
    apply_own: Callable[[str, Config], Awaitable[None]],
) -> SectionsApplied:
    """Give each changed section to whoever takes it; account for what was and was not applied."""
    outcome = SectionsApplied()
    for section in _sections_in_order(changes):
        paths = [c.path for c in changes if c.section == section]
        if section in OVERLAY_SECTIONS:
            continue
        if section in RUNTIME_OWNED_SECTIONS:
            try:
                await apply_own(section, new)
            except Exception as err:  # e.g. a new log file that cannot be opened: the old setup runs on
                _fail(outcome, section, section, err, paths)
                continue
            outcome.reconfigured.append(section)
            continue
        targets = services.reconfigurable(section)
        if not targets:
            outcome.restart_required.extend(paths)
            outcome.not_live.extend(paths)
            continue
        left: list[str] = []
        failed = False
        for definition, instance in targets:
            try:
                result = cast(Any, instance).reconfigure(getattr(new, section))
                if inspect.isawaitable(result):
                    result = await result
            except Exception as err:  # reported, never silent; the other services still get theirs
                _fail(outcome, definition.name, section, err, paths)
                failed = True
                continue
            left.extend(_under(paths, _reported(result)))
        if failed:
            continue
        pending = list(dict.fromkeys(left))
        outcome.restart_required.extend(pending)
        outcome.not_live.extend(pending)
        if len(pending) < len(paths):
            outcome.reconfigured.append(section)
    return outcome


def live_config(new: Config, running: Config, not_live: Iterable[str]) -> Config | None:
    """``new`` with the value of ``running`` at each path in ``not_live``: the configuration in force.

    None when that mix is not a valid configuration (e.g. a new model of a new
    provider, where only the model could be applied): then the caller keeps the
    file's values and names the pending paths.
    """
    paths = [parse_path(path) for path in not_live]
    if not paths:
        return new
    data = new.model_dump(by_alias=True)
    old = running.model_dump(by_alias=True)
    for loc in paths:
        _copy_at(old, data, loc)
    try:
        return Config.model_validate(data)
    except ValidationError:
        return None


def _fail(outcome: SectionsApplied, name: str, section: str, err: Exception, paths: list[str]) -> None:
    outcome.failures[name] = f"{type(err).__name__}: {err}"
    outcome.not_live.extend(paths)
    _log.error("service_reconfigure_failed", service=name, section=section, exc_info=err)


def _reported(result: object) -> list[str]:
    """The paths a ``reconfigure`` said it left for a restart (it returns them, or None for "all applied")."""
    if result is None or isinstance(result, str | bytes) or not isinstance(result, Iterable):
        return []
    return [str(path) for path in result]


def _under(changed: list[str], reported: list[str]) -> list[str]:
    """The changed paths that a reported path covers (itself or below it); reported ones matching none, as is."""
    out: list[str] = []
    for prefix in reported:
        matched = [path for path in changed if path == prefix or path.startswith((prefix + ".", prefix + "["))]
        out.extend(matched or [prefix])
    return out


def _copy_at(source: dict[str, Any], target: dict[str, Any], loc: Loc) -> None:
    """Set ``target`` at ``loc`` to ``source``'s value there (removing it when ``source`` has none)."""
    src: Any = source
    dst: Any = target
    for depth, key in enumerate(loc):
        last = depth == len(loc) - 1
        present = _has(src, key)
        if last:
            if present:
                dst[key] = src[key]
            elif isinstance(dst, dict):
                dst.pop(key, None)
            return
        if not present or not _has(dst, key):
            if present and isinstance(dst, dict):
                dst[key] = src[key]  # a whole subtree the running config has and the new one lacks
            elif isinstance(dst, dict):
                dst.pop(key, None)
            return
        src, dst = src[key], dst[key]


def _has(node: Any, key: Any) -> bool:
    if isinstance(node, dict):
        return key in node
    if isinstance(node, list) and isinstance(key, int):
        return 0 <= key < len(node)
    return False


def _sections_in_order(changes: tuple[ConfigChange, ...]) -> list[str]:
    return list(dict.fromkeys(change.section for change in changes))
