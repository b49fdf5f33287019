"""The runtime: reads the configuration, boots the services, reloads, shuts down.

``Runtime`` is the only part that knows every other part. Its lifetime::

    rt = Runtime.open("agentrt.yaml")      # nothing happens yet: NEW
    async with rt:                         # config loaded, logging set, services started: RUNNING
        ...                                # Runtime.current() is rt in this context
    # services stopped in reverse order, log sinks flushed: CLOSED

Opening a runtime twice raises, closing it twice is harmless, and using a
closed one raises a clear ``RuntimeStateError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from agentrt._preflight import check_startable
from agentrt._reload import ReloadResult, apply_sections, live_config
from agentrt.config import Config, LoadedConfig, diff_configs, load_config
from agentrt.errors import ConfigError, NoRuntimeError, RuntimeStateError, ServiceStopError
from agentrt.logging import LoggingHandle, configure_logging
from agentrt.services import ServiceContainer, ServiceDefinition, discover_services

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from pydantic import BaseModel

    from agentrt._watch import ConfigWatcher
    from agentrt.agents import AgentRuntime
    from agentrt.calls import CallPipeline, Prompt
    from agentrt.models import ModelCatalog
    from agentrt.observability import Metrics
    from agentrt.prompts import PromptLibrary, RenderedPrompt
    from agentrt.providers import ProviderRegistry
    from agentrt.tools._handle import ToolsHandle
    from agentrt.types import Completion, Embeddings, StreamEvent

    M = TypeVar("M", bound=BaseModel)

__all__ = ["ReloadResult", "Runtime", "RuntimeState"]

T = TypeVar("T")
ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | Config | None

_log = structlog.get_logger("agentrt.runtime")
_current: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar("agentrt_runtime", default=None)


class RuntimeState(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    CLOSED = "closed"


class Runtime:
    """One running agentrt: configuration, logging and services, with a lifetime.

    Build it with :meth:`open` and enter it with ``async with``; or hand a main
    coroutine function to :meth:`run`, which also handles SIGINT and SIGTERM.
    """

    def __init__(
        self,
        source: ConfigSource = None,
        *,
        env: str | None = None,
        environ: Mapping[str, str] | None = None,
        plugins: bool = True,
    ) -> None:
        self._source = source
        self._env = env
        self._environ = environ
        self._plugins = plugins
        self._state = RuntimeState.NEW
        self._services = ServiceContainer()
        self._overrides: list[tuple[type[Any], Any]] = []
        self._loaded: LoadedConfig | None = None
        self._logging: LoggingHandle | None = None
        self._config_version = 0
        self._reload_lock = asyncio.Lock()
        self._watcher: ConfigWatcher | None = None
        self._token: contextvars.Token[Runtime | None] | None = None
        self._shutdown_requested = asyncio.Event()
        self._calls: CallPipeline | None = None
        self._import_path = contextlib.ExitStack()
        self._live: Config | None = None  # set while part of the file's configuration awaits a restart
        self._pending: tuple[str, ...] = ()

    # --- construction and lookup -----------------------------------------------------

    @classmethod
    def open(
        cls,
        source: ConfigSource = None,
        *,
        env: str | None = None,
        environ: Mapping[str, str] | None = None,
        plugins: bool = True,
    ) -> Runtime:
        """A runtime for ``source`` (a path, a mapping, a ``Config``; None: ``$AGENTRT_CONFIG`` or
        ``./agentrt.yaml``), to be entered with ``async with``. ``env`` picks the
        ``environments`` overlay (default: ``$AGENTRT_ENV``); ``plugins=False`` skips
        entry-point services."""
        return cls(source, env=env, environ=environ, plugins=plugins)

    @classmethod
    def current(cls) -> Runtime:
        """The runtime open in the current context, for code that was not handed one."""
        rt = _current.get()
        if rt is None or rt._state is not RuntimeState.RUNNING:
            raise NoRuntimeError()
        return rt

    @classmethod
    def run(
        cls,
        main: Callable[[Runtime], Awaitable[T]] | None = None,
        source: ConfigSource = None,
        *,
        env: str | None = None,
    ) -> T | None:
        """Open a runtime, run ``main(rt)`` in it, shut down; blocks, like ``asyncio.run``.

        SIGINT and SIGTERM start a graceful shutdown: ``rt.shutdown_requested`` is
        set and ``main`` gets ``runtime.shutdown_timeout`` to return before it is
        cancelled; then services stop. A second signal cancels ``main`` at once,
        or, if services are already stopping, ends the process. With no ``main``
        the runtime runs until a signal arrives. Returns what ``main`` returned,
        or None when it was cancelled by a shutdown.
        """
        from agentrt._shutdown import run_with_signals

        with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
            return runner.run(run_with_signals(cls.open(source, env=env), main))

    # --- state -------------------------------------------------------------------------

    @property
    def state(self) -> RuntimeState:
        return self._state

    @property
    def config(self) -> Config:
        """The configuration in force: what the services run with.

        After a reload whose changes are partly pending (a setting only a restart
        applies), those paths show their running values, not the file's; see
        :attr:`pending_restart`.
        """
        return self._live if self._live is not None else self._require_loaded().config

    @property
    def loaded_config(self) -> LoadedConfig:
        """The configuration as last read from its files (environment applied), pending parts included."""
        return self._require_loaded()

    @property
    def pending_restart(self) -> tuple[str, ...]:
        """The changed paths that the file has and the running services do not: a restart applies them."""
        return self._pending

    @property
    def config_version(self) -> int:
        """1 for the configuration the runtime started with, +1 for each applied reload."""
        return self._config_version

    @property
    def services(self) -> ServiceContainer:
        return self._services

    @property
    def logging(self) -> LoggingHandle:
        if self._logging is None:
            raise RuntimeStateError("the runtime is not started: logging is not configured yet")
        return self._logging

    @property
    def shutdown_requested(self) -> asyncio.Event:
        """Set when a graceful shutdown was asked for (a signal, or :meth:`request_shutdown`)."""
        return self._shutdown_requested

    def request_shutdown(self) -> None:
        self._shutdown_requested.set()

    def override(self, key: type[T], value: T | ServiceDefinition) -> None:
        """Serve ``key`` with ``value`` instead of the built-in service (tests). Before start only."""
        if self._state is not RuntimeState.NEW:
            raise RuntimeStateError("Runtime.override() must be called before the runtime starts")
        self._overrides.append((key, value))

    # --- model calls -------------------------------------------------------------------

    @property
    def calls(self) -> CallPipeline:
        """The call pipeline behind :meth:`generate`, :meth:`stream`, :meth:`generate_object`, :meth:`embed`."""
        if self._calls is None:
            raise RuntimeStateError("the runtime is not running: open it with `async with Runtime.open(...)`")
        return self._calls

    @property
    def models(self) -> ModelCatalog:
        return self.calls.catalog

    @property
    def providers(self) -> ProviderRegistry:
        return self.calls.providers

    @property
    def agents(self) -> AgentRuntime:
        """The agents: spawn, tell, ask, state, subscribe, terminate (see :class:`agentrt.agents.AgentRuntime`)."""
        from agentrt.agents import AgentRuntime

        if self._state is not RuntimeState.RUNNING:
            raise RuntimeStateError("the runtime is not running: open it with `async with Runtime.open(...)`")
        return self._services.get(AgentRuntime)

    @property
    def metrics(self) -> Metrics:
        from agentrt.observability import Metrics

        return self._services.get(Metrics)

    @property
    def tools(self) -> ToolsHandle:
        """The configured tools, called through governance, and the approvals of tool calls that wait:
        ``list()``, ``call(name, args, user=...)``, ``pending()``, ``approve(id)``, ``reject(id, reason)``."""
        from agentrt.tools._governance import ToolGovernor
        from agentrt.tools._handle import ToolsHandle

        if self._state is not RuntimeState.RUNNING:
            raise RuntimeStateError("the runtime is not running: open it with `async with Runtime.open(...)`")
        return ToolsHandle(self._services.get(ToolGovernor), self._services)

    @property
    def prompts(self) -> PromptLibrary:
        """The configured prompt templates: ``list()``, ``info(name)``, ``render(name, **inputs)``."""
        from agentrt.prompts import PromptLibrary

        if self._state is not RuntimeState.RUNNING:
            raise RuntimeStateError("the runtime is not running: open it with `async with Runtime.open(...)`")
        return self._services.get(PromptLibrary)

    def prompt(self, name: str, /, **inputs: Any) -> RenderedPrompt:
        """Prompt ``name`` of the ``prompts`` section rendered with ``inputs``: a list of messages that
        :meth:`generate`, :meth:`stream` and :meth:`generate_object` take as their prompt, tagged with
        the ``config_version`` it was rendered with. ``PromptInputError`` names a missing or wrong input."""
        return self.prompts.render(name, **inputs)

    async def generate(self, model: str, prompt: Prompt, **options: Any) -> Completion:
        """A completion of ``prompt`` by ``model`` (a name or alias), through policies and fallbacks.

        Options (all keyword): ``system``, ``user``, ``tenant``, ``principal``,
        ``fallbacks``, ``timeout``, ``tools``, ``tool_choice``, ``max_steps``,
        ``max_output_tokens``, ``temperature``, ``response_format``, and any
        model parameter, passed to the provider as given. See
        :meth:`agentrt.calls.CallPipeline.generate`.
        """
        return await self.calls.generate(model, prompt, **options)

    def stream(self, model: str, prompt: Prompt, **options: Any) -> AsyncIterator[StreamEvent]:
        """Like :meth:`generate`, as events: ``TextDelta``, ``ToolCallDelta``, then one ``Completed``."""
        return self.calls.stream(model, prompt, **options)

    async def generate_object(self, model: str, prompt: Prompt, *, schema: type[T], **options: Any) -> T:
        """A validated instance of ``schema`` (a pydantic model, or a type such as ``list[int]``);
        invalid output is sent back to be fixed."""
        from agentrt.calls import generate_object

        return await generate_object(self.calls, model, prompt, schema=schema, **options)

    async def embed(self, model: str, inputs: str | Sequence[str], **options: Any) -> Embeddings:
        """One vector per input text (``user``, ``tenant``, ``timeout`` and model parameters accepted)."""
        return await self.calls.embed(model, inputs, **options)

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Load and validate the configuration, configure logging, start every service."""
        if self._state is not RuntimeState.NEW:
            raise RuntimeStateError(f"this runtime was already started (state: {self._state.value})")
        self._state = RuntimeState.STARTING
        try:
            loaded = self._load()
            self._loaded = loaded
            self._hold_import_path(loaded)
            # The services' own checks, all at once, before any service starts (see _preflight).
            await check_startable(loaded)
            self._logging = configure_logging(loaded.config.logging, secrets=loaded.config.secret_values())
            self._register_services(loaded.config)
            await self._services.start()
            self._calls = self._find_calls()
            self._bind_prompt_versions()
        except BaseException:
            self._state = RuntimeState.CLOSED
            if self._logging is not None:
                self._logging.close()
            self._import_path.close()
            raise
        self._config_version = 1
        self._state = RuntimeState.RUNNING
        self._token = _current.set(self)
        _log.info(
            "runtime_started",
            name=loaded.config.runtime.name,
            env=loaded.env,
            config=str(loaded.path) if loaded.path else None,
            config_version=self._config_version,
            services=len(self._services.info()),
        )
        if loaded.config.runtime.watch:
            await self._start_watcher()

    async def stop(self) -> None:
        """Stop every service in reverse start order, then flush and close the log sinks."""
        if self._state in (RuntimeState.NEW, RuntimeState.CLOSED, RuntimeState.STOPPING):
            if self._state is RuntimeState.NEW:
                self._state = RuntimeState.CLOSED
            return
        self._state = RuntimeState.STOPPING
        self._shutdown_requested.set()
        try:
            await self._stop_watcher()
            timeout = self.config.runtime.shutdown_timeout
            try:
                await self._services.stop(timeout=timeout, total=timeout)
            except ServiceStopError as err:
                # Every failure was logged by the container; the runtime still closes.
                _log.error("runtime_stopped_with_errors", failures=sorted(err.failures))
            else:
                _log.info("runtime_stopped", name=self.config.runtime.name)
        finally:
            self._state = RuntimeState.CLOSED
            self._calls = None
            self._reset_current()
            if self._logging is not None:
                self._logging.close()
            self._import_path.close()

    def _bind_prompt_versions(self) -> None:
        # A render is tagged with the config version in force, which only the runtime counts.
        from agentrt.prompts import PromptLibrary

        if PromptLibrary in self._services:
            self._services.get(PromptLibrary).use_version(lambda: self._config_version)

    def _find_calls(self) -> CallPipeline | None:
        from agentrt.calls import CallPipeline

        return self._services.get(CallPipeline) if CallPipeline in self._services else None

    def _reset_current(self) -> None:
        if self._token is None:
            return
        # Stopped from another context (a signal handler's task) the reset fails; current() checks
        # the state anyway, so a stale reference left there is never returned.
        with contextlib.suppress(ValueError):
            _current.reset(self._token)
        self._token = None

    # --- configuration --------------------------------------------------------------------

    def _load(self) -> LoadedConfig:
        return load_config(self._source, env=self._env, environ=self._environ)

    def _hold_import_path(self, loaded: LoadedConfig) -> None:
        # Agent classes named module:Class may sit next to the config file, as users expect.
        from agentrt._preflight import config_import_path

        self._import_path.enter_context(config_import_path(loaded.base_dir))

    def _require_loaded(self) -> LoadedConfig:
        if self._loaded is None:
            raise RuntimeStateError("the runtime is not started: its configuration is not loaded yet")
        return self._loaded

    def _register_services(self, config: Config) -> None:
        from agentrt._builtin_services import builtin_services

        assert self._logging is not None
        self._services.provide(Config, config, name="config", version=str(1))
        self._services.provide(LoggingHandle, self._logging, name="logging")
        for definition in builtin_services():
            self._services.register(definition)
        if self._plugins:
            for definition in discover_services():
                self._services.register(definition)
        for key, value in self._overrides:
            self._services.override(key, value)

    async def reload(self) -> ReloadResult:
        """Read the configuration again and apply what changed.

        An invalid configuration changes nothing: every problem is logged and
        returned. A valid one is diffed; logging and runtime settings apply at
        once, each other changed section goes to the services that implement
        ``reconfigure``, and a change that no service can take is named as
        needing a restart.
        """
        if self._state is not RuntimeState.RUNNING:
            raise RuntimeStateError(f"cannot reload a runtime that is {self._state.value}")
        async with self._reload_lock:
            return await self._reload_locked()

    async def _reload_locked(self) -> ReloadResult:
        running = self.config
        try:
            new = self._load()
        except ConfigError as err:
            _log.error(
                "config_reload_rejected",
                config_version=self._config_version,
                problems=[str(p) for p in err.problems],
            )
            return ReloadResult(applied=False, version=self._config_version, problems=err.problems)
        # Against what runs, not what the file said last time: a change still pending is reported again.
        changes = tuple(diff_configs(running, new.config))
        self._loaded = new
        if self._watcher is not None:
            self._watcher.update_files(new.files)
        if not changes:
            self._live, self._pending = None, ()
            _log.info("config_reload_unchanged", config_version=self._config_version)
            return ReloadResult(applied=True, version=self._config_version)

        outcome = await apply_sections(changes, new.config, self._services, self._apply_runtime_section)
        live = live_config(new.config, running, outcome.not_live)
        if live is None:
            _log.warning(
                "config_partly_pending",
                paths=outcome.not_live,
                hint="rt.config shows the file's values; these paths are not live until a restart",
            )
        self._live = live if live is not new.config else None
        self._pending = tuple(outcome.restart_required)
        if outcome.reconfigured:
            self._config_version += 1
            _log.info(
                "config_reloaded",
                config_version=self._config_version,
                changed=[c.path for c in changes],
                reconfigured=outcome.reconfigured,
            )
        if outcome.restart_required:
            _log.warning(
                "config_change_needs_restart",
                config_version=self._config_version,
                paths=outcome.restart_required,
                hint="these settings take effect when the runtime is restarted",
            )
        return ReloadResult(
            applied=True,
            version=self._config_version,
            changes=changes,
            reconfigured=tuple(outcome.reconfigured),
            restart_required=tuple(outcome.restart_required),
            failures=outcome.failures,
        )

    async def _apply_runtime_section(self, section: str, config: Config) -> None:
        if section == "logging":
            self.logging.reconfigure(config.logging, secrets=config.secret_values())
        elif section == "runtime":
            # shutdown_timeout and name are read when used; only watching needs an action.
            if config.runtime.watch and self._watcher is None:
                await self._start_watcher()
            elif not config.runtime.watch and self._watcher is not None:
                await self._stop_watcher()
            elif self._watcher is not None:
                self._watcher.debounce = config.runtime.watch_debounce

    async def _start_watcher(self) -> None:
        loaded = self._require_loaded()
        if not loaded.files:
            _log.warning("config_watch_skipped", reason="the configuration was not read from a file")
            return
        from agentrt._watch import ConfigWatcher

        self._watcher = ConfigWatcher(loaded.files, self.reload, debounce=loaded.config.runtime.watch_debounce)
        await self._watcher.start()

    async def _stop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.stop()


def _fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (the ``speed`` extra) and not turned off, else asyncio's.

    ``AGENTRT_LOOP=asyncio`` keeps the standard loop (for debugging or comparison).
    """
    if os.environ.get("AGENTRT_LOOP", "auto") == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def config_base_dir(loaded: LoadedConfig) -> Path:
    """The directory relative paths in this configuration are resolved against."""
    return loaded.path.parent if loaded.path is not None else Path.cwd()
