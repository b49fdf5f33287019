"""The tool registry: every configured toolkit's source, its tools by full name, raw calls.

::

    registry = ToolRegistry(config.tools, base_dir=Path("."))
    await registry.start()                       # every source, concurrently
    registry.list()                              # [ToolInfo(toolkit="calc", name="evaluate", ...), ...]
    registry.select(["calc.*", "web.fetch"])     # names or globs on full names
    out = await registry.call("calc.evaluate", {"expression": "2 + 2"})
    await registry.reconfigure(new_config.tools) # toolkits added, removed, changed
    await registry.close()

The registry lists and runs tools; it governs nothing. Policy, approvals,
audit, metrics and spans wrap :meth:`ToolRegistry.call` (``rt.tools``).
A toolkit's ``include`` / ``exclude`` hide tools here, for every caller, and a
per-tool ``description`` replaces the source's. MCP sources come from
``agentrt.tools.mcp.open_source``, imported only for a toolkit that needs it.
"""

from __future__ import annotations

import asyncio
import builtins
import fnmatch
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from agentrt.config._tools import ToolkitSection, ToolSettings
from agentrt.errors import RuntimeStateError, ToolError
from agentrt.services.health import HealthReport
from agentrt.tools._source import SourceStatus, ToolInfo, ToolOutput, ToolSource
from agentrt.tools._toolset import ToolSet

__all__ = ["ToolRegistry", "open_toolkit"]

_log = structlog.get_logger("agentrt.tools")
_TOOLSETS_KEPT = 256


def open_toolkit(toolkit: str, section: ToolkitSection, base_dir: Path) -> ToolSource:
    """The source of one toolkit, not started; :class:`ToolError` when it cannot be built."""
    kind = section.source_kind
    if kind == "python":
        from agentrt.tools._python_source import python_source

        assert section.python is not None
        return python_source(toolkit, section.python, base_dir)
    if kind == "builtin":
        from agentrt.tools.builtins import builtin_source

        return builtin_source(toolkit, section)
    # By name: the MCP package (and the mcp SDK behind it) is imported only for a toolkit that needs it.
    mcp = importlib.import_module("agentrt.tools.mcp")
    source: ToolSource = mcp.open_source(toolkit, section, base_dir)
    return source


class ToolRegistry:
    """The toolkits of a ``tools`` section, each a started :class:`ToolSource`.

    States: new, running (after :meth:`start`), closed (after :meth:`close`,
    which is safe to repeat). Listing and calling need a running registry.
    """

    def __init__(self, toolkits: Mapping[str, ToolkitSection], *, base_dir: Path | None = None) -> None:
        self._sections: dict[str, ToolkitSection] = dict(toolkits)
        self._base_dir = (base_dir or Path.cwd()).absolute()
        self._sources: dict[str, ToolSource] = {}
        self._index: dict[str, ToolInfo] | None = None
        # The ToolSet of each list of patterns calls used (cleared whenever the tools change): a call
        # naming the same tools as the last one pays a dict lookup, not a selection.
        self._toolsets: dict[tuple[str, ...], ToolSet] = {}
        self._state = "new"
        self._lock = asyncio.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._warned: set[tuple[str, str]] = set()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Build and start every toolkit's source; on a failure, close those started and raise it."""
        if self._state != "new":
            raise RuntimeStateError(f"this tool registry was already started (state: {self._state})")
        self._sources = await self._open_all(self._sections)
        self._state = "running"
        _log.debug("tools_started", toolkits=sorted(self._sources), tools=len(self._tools()))

    async def close(self) -> None:
        """Close every source (a failure is logged, never stops the others). Safe to call twice."""
        if self._state == "closed":
            return
        self._state = "closed"
        sources, self._sources = self._sources, {}
        self._forget()
        await _close_all(sources.values())

    async def reconfigure(self, toolkits: Mapping[str, ToolkitSection]) -> None:
        """Apply a new ``tools`` section: toolkits added are started, removed ones closed, and a toolkit
        whose source changed is replaced by a new one (an MCP server restarted); a change of governance
        only (timeout, approval, cost, include, ...) applies without touching the source.

        All or nothing: if a new source fails to start, the ones started for this change are closed,
        the running toolkits stay as they were, and the error is raised.
        """
        self._require_running("reconfigure")
        async with self._lock:
            new = dict(toolkits)
            old = self._sections
            rebuild = {
                name: section for name, section in new.items() if name not in old or _source_changed(old[name], section)
            }
            started = await self._open_all(rebuild)
            retired = [source for name, source in self._sources.items() if name not in new or name in rebuild]
            sources = {name: source for name, source in self._sources.items() if name in new and name not in rebuild}
            sources.update(started)
            self._sources = dict(sorted(sources.items()))
            self._sections = new
            self._forget()
            await _close_all(retired)
            if rebuild or set(old) - set(new) or any(old[n] != new[n] for n in new if n in old):
                self._changed()
            _log.info(
                "tools_reconfigured",
                added=sorted(set(new) - set(old)),
                removed=sorted(set(old) - set(new)),
                restarted=sorted(set(rebuild) & set(old)),
            )

    # --- lookup --------------------------------------------------------------------------

    def toolkits(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def source(self, toolkit: str) -> ToolSource:
        """The running source of ``toolkit``; :class:`ToolError` naming the toolkits there are."""
        found = self._sources.get(toolkit)
        if found is None:
            raise ToolError(f"there is no toolkit {toolkit!r}: the toolkits are {_names(self._sources)}")
        return found

    def section(self, toolkit: str) -> ToolkitSection:
        """The configuration of ``toolkit`` (its governance: ``section.settings_for(tool)``)."""
        found = self._sections.get(toolkit)
        if found is None:
            raise ToolError(f"there is no toolkit {toolkit!r}: the toolkits are {_names(self._sections)}")
        return found

    def settings(self, full_name: str) -> ToolSettings:
        """The governance in force for the tool ``toolkit.tool``: its toolkit's, with its overrides."""
        info = self.get(full_name)
        return self._sections[info.toolkit].settings_for(info.name)

    def subscribe_changes(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change()`` after the list of tools changes: a source's list changed (an MCP server's
        ``tools/list_changed``) or a reload added, removed or replaced toolkits. It must be quick and not
        raise (an exception is logged and dropped)."""
        self._listeners.append(on_change)

    def list(self) -> list[ToolInfo]:
        """Every tool the toolkits expose, by toolkit then in each source's order."""
        return list(self._tools().values())

    def get(self, full_name: str) -> ToolInfo:
        """The tool ``toolkit.tool``; :class:`ToolError` naming the tools there are."""
        found = self._tools().get(full_name)
        if found is None:
            raise ToolError(f"there is no tool {full_name!r}: {self._available()}")
        return found

    def select(self, patterns: Iterable[str]) -> builtins.list[ToolInfo]:
        """The tools named by ``patterns`` (full names, or globs on them: ``github.search_*``), each once,
        in the order the patterns name them. A pattern that matches nothing is a :class:`ToolError`."""
        tools = self._tools()
        chosen: dict[str, ToolInfo] = {}
        for pattern in patterns:
            if pattern in tools:
                chosen.setdefault(pattern, tools[pattern])
                continue
            matched = [info for name, info in tools.items() if fnmatch.fnmatchcase(name, pattern)]
            if not matched:
                hint = "" if "." in pattern else " (tools are named toolkit.tool, e.g. calc.evaluate)"
                raise ToolError(f"no tool matches {pattern!r}{hint}: {self._available()}")
            for info in matched:
                chosen.setdefault(info.full_name, info)
        return list(chosen.values())

    def toolset(self, patterns: Iterable[str]) -> ToolSet:
        """The tools ``patterns`` select (see :meth:`select`) as a :class:`ToolSet` for a model call, run by
        :meth:`call`; the same object for the same patterns until the tools change."""
        key = tuple(patterns)
        found = self._toolsets.get(key)
        if found is None:
            found = ToolSet.with_registry_tools((), self.select(key), self.call)
            if len(self._toolsets) >= _TOOLSETS_KEPT:
                self._toolsets.clear()
            self._toolsets[key] = found
        return found

    async def call(self, full_name: str, arguments: Mapping[str, Any], *, timeout: float | None = None) -> ToolOutput:
        """Run the tool, ungoverned. ``timeout`` defaults to the tool's configured one; errors are the
        source's (:class:`ToolError`, :class:`~agentrt.errors.ToolArgumentsError`, ``TimeoutError``) or the
        tool's own exception."""
        info = self.get(full_name)
        source = self._sources[info.toolkit]
        if timeout is None:
            timeout = self._sections[info.toolkit].settings_for(info.name).timeout
        return await source.call(info.name, arguments, timeout=timeout)

    # --- health ----------------------------------------------------------------------------

    def status(self) -> dict[str, SourceStatus]:
        """Each toolkit's source status, by toolkit name."""
        return {name: source.status() for name, source in self._sources.items()}

    def health(self) -> HealthReport:
        """Unhealthy when a toolkit failed or stopped; a restarting one is named, the registry still serves."""
        if self._state != "running":
            return HealthReport(False, f"the tool registry is {self._state}")
        statuses = self.status()
        failed = [name for name, status in statuses.items() if status.state in ("failed", "stopped")]
        notes = [
            f"{name}={status.state}" + (f" ({status.detail})" if status.detail else "")
            for name, status in statuses.items()
            if status.state != "ready"
        ]
        tools = len(self._tools())
        detail = f"{len(statuses)} toolkits, {tools} tools" + (f"; {', '.join(notes)}" if notes else "")
        return HealthReport(not failed, detail)

    # --- internals ---------------------------------------------------------------------------

    def _tools(self) -> dict[str, ToolInfo]:
        self._require_running("list tools")
        index = self._index
        if index is None:
            index = {}
            for name, source in self._sources.items():
                section = self._sections[name]
                listed = source.tools()
                for info in listed:
                    if not section.exposes(info.name):
                        continue
                    description = section.settings_for(info.name).description
                    if description is not None:
                        info = replace(info, description=description)
                    index.setdefault(info.full_name, info)
                self._warn_unknown_overrides(name, section, {info.name for info in listed})
            self._index = index
        return index

    def _warn_unknown_overrides(self, toolkit: str, section: ToolkitSection, names: set[str]) -> None:
        # An override of a tool the source does not list governs nothing: a typo in `approval: required`
        # would leave the real tool unguarded, so say it (once per name). Not an error: an MCP server's
        # list may change, and the tool may come back.
        for tool in section.tools:
            key = (toolkit, tool)
            if tool not in names and key not in self._warned:
                self._warned.add(key)
                _log.warning(
                    "tool_override_unknown",
                    toolkit=toolkit,
                    tool=tool,
                    tools=sorted(names),
                    hint=f"tools.{toolkit}.tools.{tool} names no tool of this toolkit: check its spelling",
                )

    def _forget(self) -> None:
        self._index = None
        self._toolsets.clear()

    def _changed(self) -> None:
        # A source's list changed (an MCP server's tools/list_changed): rebuild the index on next use.
        self._forget()
        for listener in builtins.list(self._listeners):
            try:
                listener()
            except Exception as err:  # a listener's bug must not stop the others, nor the source
                _log.warning("tools_listener_failed", error=f"{type(err).__name__}: {err}")

    def _available(self) -> str:
        names = list(self._tools())
        if not names:
            return "no tools are configured (declare toolkits under tools:)"
        shown = ", ".join(names[:40]) + (f" and {len(names) - 40} more" if len(names) > 40 else "")
        return f"the tools are {shown}"

    def _require_running(self, what: str) -> None:
        if self._state != "running":
            raise RuntimeStateError(f"cannot {what}: the tool registry is {self._state} (start it first)")

    async def _open_all(self, sections: Mapping[str, ToolkitSection]) -> dict[str, ToolSource]:
        """Build and start the sources of ``sections`` concurrently; all of them, or none and the error."""
        sources: dict[str, ToolSource] = {}
        try:
            for name, section in sections.items():
                sources[name] = _opened(name, section, self._base_dir)
        except BaseException:
            await _close_all(sources.values())
            raise
        results = await asyncio.gather(*(source.start() for source in sources.values()), return_exceptions=True)
        errors = [(name, r) for name, r in zip(sources, results, strict=True) if isinstance(r, BaseException)]
        if errors:
            await _close_all(sources.values())
            name, first = errors[0]
            if isinstance(first, ToolError):
                raise first
            raise ToolError(f"toolkit {name!r} failed to start: {type(first).__name__}: {first}") from first
        for source in sources.values():
            source.subscribe(self._changed)
        return dict(sorted(sources.items()))


def _opened(name: str, section: ToolkitSection, base_dir: Path) -> ToolSource:
    try:
        return open_toolkit(name, section, base_dir)
    except ToolError:
        raise
    except Exception as err:  # e.g. the mcp SDK not installed: still say which toolkit
        raise ToolError(f"toolkit {name!r} cannot be set up: {type(err).__name__}: {err}") from err


def _source_changed(old: ToolkitSection, new: ToolkitSection) -> bool:
    """Whether the source itself differs (a restart), not only the governance around it."""
    return bool(
        old.python != new.python or old.builtin != new.builtin or old.options != new.options or old.mcp != new.mcp
    )


async def _close_all(sources: Iterable[ToolSource]) -> None:
    async def close_one(source: ToolSource) -> None:
        try:
            await source.close()
        except Exception as err:  # one toolkit that fails to close must not keep the others open
            _log.warning("toolkit_close_failed", toolkit=source.toolkit, error=f"{type(err).__name__}: {err}")

    await asyncio.gather(*(close_one(source) for source in sources))


def _names(items: Mapping[str, Any]) -> str:
    return ", ".join(items) or "none (declare toolkits under tools:)"
