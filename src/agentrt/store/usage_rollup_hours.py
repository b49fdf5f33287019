"""The hourly rollup of the last days: what the daily rollup is to months, for the hourly charts of a week.

Each UTC hour closed for :data:`GRACE` seconds is summed once into
:data:`~agentrt.store.usage_rollup.HOURLY_TABLE` (per tenant, dimension and
key, as the daily rollup), recorded in the rolled-hours table in the same
transaction. Only the last :data:`KEEP_DAYS` days are kept: older hours are
deleted as new ones come, since the pages offer hours for 7 days at most.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Final

import structlog

from agentrt.store._base import Store
from agentrt.store.usage_rollup import DIMENSIONS, HOURLY_TABLE, ROLLED_HOURS_TABLE, roll_sql

__all__ = ["GRACE", "KEEP_DAYS", "hour_bounds", "hour_of", "roll_up_closed_hours", "rolled_hours"]

GRACE: Final = 300.0
"""Seconds after an hour ends before it is rolled up (late ledger rows land first)."""
KEEP_DAYS: Final = 8

_ROLL: Final = roll_sql(HOURLY_TABLE, "hour", pruned=False)
_log = structlog.get_logger("agentrt.store")


def hour_of(ts: float) -> str:
    """The UTC hour of ``ts`` as ``YYYY-MM-DDTHH``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H")


def hour_bounds(hour: str) -> tuple[float, float]:
    start = datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC).timestamp()
    return start, start + 3600.0


async def rolled_hours(store: Store, first: str, last: str) -> set[str]:
    """The hours in ``[first, last]`` the hourly rollup holds."""
    rows = await store.fetchall(f"SELECT hour FROM {ROLLED_HOURS_TABLE} WHERE hour >= ? AND hour <= ?", (first, last))
    return {str(row[0]) for row in rows}


async def roll_up_hour(store: Store, hour: str) -> bool:
    """Roll up one hour; False when it was rolled already (by this or another process)."""
    start, end = hour_bounds(hour)
    async with store.transaction() as tx:
        if await tx.fetchone(f"SELECT 1 FROM {ROLLED_HOURS_TABLE} WHERE hour = ?", (hour,)) is not None:
            return False
        claimed = await tx.execute(
            f"INSERT INTO {ROLLED_HOURS_TABLE} (hour, rolled_at) VALUES (?, ?) ON CONFLICT (hour) DO NOTHING",
            (hour, time.time()),
        )
        if claimed != 1:  # another process inserted it after our look (PostgreSQL does not block the look)
            return False
        await tx.execute(_ROLL, (start, end, *([hour] * len(DIMENSIONS))))
    return True


async def roll_up_closed_hours(store: Store, *, now: float | None = None, pause: float = 0.0) -> list[str]:
    """Roll up the closed hours of the last :data:`KEEP_DAYS` days the rollup lacks, drop older ones;
    return the hours rolled."""
    now = time.time() if now is None else now
    last_start = (now - GRACE - 3600.0) // 3600 * 3600  # the newest hour closed for GRACE seconds at least
    oldest = hour_of(now - KEEP_DAYS * 86400.0)
    await store.execute(f"DELETE FROM {HOURLY_TABLE} WHERE hour < ?", (oldest,))
    await store.execute(f"DELETE FROM {ROLLED_HOURS_TABLE} WHERE hour < ?", (oldest,))
    row = await store.fetchone("SELECT MIN(ts) FROM agentrt_usage WHERE ts >= ?", (now - KEEP_DAYS * 86400.0,))
    if row is None or row[0] is None:
        return []
    start = float(row[0]) // 3600 * 3600
    if start > last_start:
        return []
    done = await rolled_hours(store, hour_of(start), hour_of(last_start))
    rolled: list[str] = []
    while start <= last_start:
        hour = hour_of(start)
        if hour not in done and await roll_up_hour(store, hour):
            rolled.append(hour)
            if pause:
                await asyncio.sleep(pause)
        start += 3600.0
    if rolled:
        _log.info("dashboard_usage_hours_rolled_up", hours=len(rolled), first=rolled[0], last=rolled[-1])
    return rolled
