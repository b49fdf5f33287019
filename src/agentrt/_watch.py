"""Watches the configuration file and its includes, and reloads the runtime when they change.

The parent directories are watched rather than the files themselves: editors and
deployment tools often replace a file by renaming a new one over it, which a
watch on the old inode would miss.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import structlog

__all__ = ["ConfigWatcher"]

_log = structlog.get_logger("agentrt.runtime.watch")


class ConfigWatcher:
    """Calls ``on_change`` (the runtime's reload) after the watched files change.

    Changes that arrive while a reload runs are folded into one more reload, so a
    burst of saves never queues a burst of reloads.
    """

    def __init__(
        self, files: Iterable[Path], on_change: Callable[[], Awaitable[Any]], *, debounce: float
    ) -> None:
        self._files = frozenset(p.resolve() for p in files)
        self._on_change = on_change
        self.debounce = debounce
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._restart = asyncio.Event()

    @property
    def files(self) -> frozenset[Path]:
        return self._files

    async def start(self) -> None:
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="agentrt-config-watcher")
        _log.debug("config_watch_started", files=sorted(str(p) for p in self._files))

    def update_files(self, files: Iterable[Path]) -> None:
        """Watch this set of files from now on (a reload may add or drop includes)."""
        new = frozenset(p.resolve() for p in files)
        if new != self._files:
            self._files = new
            self._restart.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        self._restart.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        import watchfiles

        while not self._stop.is_set():
            self._restart.clear()
            directories = sorted({p.parent for p in self._files})
            try:
                async for changes in watchfiles.awatch(
                    *directories,
                    watch_filter=self._is_watched,
                    debounce=max(1, int(self.debounce * 1000)),
                    stop_event=self._restart,
                    recursive=False,
                ):
                    _log.info("config_files_changed", files=sorted({Path(path).name for _, path in changes}))
                    try:
                        await self._on_change()
                    except Exception as err:  # the watcher must outlive a failed reload, loudly
                        _log.error("config_reload_failed", exc_info=err)
            except FileNotFoundError as err:
                # A watched directory disappeared; try again shortly rather than die silently.
                _log.warning("config_watch_directory_missing", error=str(err))
                await asyncio.sleep(1.0)

    def _is_watched(self, change: Any, path: str) -> bool:
        return Path(path).resolve() in self._files
