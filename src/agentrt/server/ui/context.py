"""What the dashboard's pages share: the server context, the sessions, the live sampler, the rollup task."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from agentrt.server.ui.live import Sampler
from agentrt.server.ui.session import Sessions

if TYPE_CHECKING:
    from agentrt.runtime import Runtime
    from agentrt.server.routing import ServerContext
    from agentrt.store import Store

__all__ = ["ROLLUP_EVERY", "UiContext"]

ROLLUP_EVERY = 600.0
"""Seconds between two looks for closed days to roll up."""

_log = structlog.get_logger("agentrt.server")


@dataclass(slots=True)
class UiContext:
    server: ServerContext
    sessions: Sessions
    sampler: Sampler | None
    started: float = field(default_factory=time.time)
    store_ready: bool = False
    _rollup: asyncio.Task[None] | None = None

    @property
    def rt(self) -> Runtime:
        return self.server.rt

    def store(self) -> Store | None:
        from agentrt.store import Store

        services = self.rt.services
        return services.get(Store) if Store in services else None

    async def start(self) -> None:
        """Start the sampler, migrate the dashboard's indexes and rollup, and roll closed days in the background."""
        if self.sampler is not None:
            self.sampler.start()
        store = self.store()
        if store is None:
            return
        from agentrt.store.usage_rollup import COMPONENT, DASHBOARD_MIGRATIONS

        try:
            await store.migrate(COMPONENT, DASHBOARD_MIGRATIONS)
        except Exception as err:  # the API must still serve: only the dashboard's store pages go without
            _log.error(
                "dashboard_store_unavailable",
                error=type(err).__name__,
                detail=str(err)[:300],
                hint="the dashboard's usage, audit and policy pages answer 503 until the server restarts with a "
                "store it can migrate",
            )
            return
        self.store_ready = True
        self._rollup = asyncio.get_running_loop().create_task(self._roll_up(store), name="agentrt-ui-rollup")

    async def close(self) -> None:
        if self.sampler is not None:
            await self.sampler.close()
        if self._rollup is not None:
            self._rollup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rollup

    async def _roll_up(self, store: Store) -> None:
        from agentrt.store.usage_rollup import roll_up_closed_days
        from agentrt.store.usage_rollup_hours import roll_up_closed_hours

        while True:
            try:
                await roll_up_closed_days(store, pause=0.01)
                await roll_up_closed_hours(store, pause=0.01)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the pages read the ledger's rows meanwhile: slower, still right
                _log.warning("dashboard_rollup_failed", error=type(err).__name__, detail=str(err)[:200])
            await asyncio.sleep(ROLLUP_EVERY)

    def service(self, kind: type[Any]) -> Any:
        """The runtime's service of type ``kind``, or None when it has none."""
        services = self.rt.services
        return services.get(kind) if kind in services else None
