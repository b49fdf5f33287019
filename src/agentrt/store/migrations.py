"""Schema versions: each component (``usage``, ``audit``, ``policy``, ``agents`` ...) migrates its own tables.

Table ``agentrt_schema`` holds one row per applied migration:
``(component, version, applied_at)``. A component's version is the highest
applied; migration ``i`` (1-based) of the list a component passes is version
``i``. Migrations are append-only: never edit one that has shipped, add the
next.

Each pending migration runs in its own transaction together with the row that
records it, so a failed or interrupted migration leaves nothing behind and
runs again at the next start. Inside that transaction the version is read
again under a lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory
lock), so processes starting at once take turns and each migration applies
exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import structlog

from agentrt.store._base import Store

__all__ = ["SCHEMA_TABLE", "Migration", "apply_migrations", "current_version", "migration_sql"]

Migration: TypeAlias = "str | Mapping[str, str]"
"""SQL text for both dialects, or ``{"sqlite": sql, "postgresql": sql}``."""

SCHEMA_TABLE = "agentrt_schema"

_CREATE_SCHEMA_TABLE = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (
    component TEXT NOT NULL,
    version BIGINT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (component, version)
)"""
_SELECT_VERSION = f"SELECT MAX(version) FROM {SCHEMA_TABLE} WHERE component = ?"
_RECORD_VERSION = f"INSERT INTO {SCHEMA_TABLE} (component, version, applied_at) VALUES (?, ?, ?)"

_log = structlog.get_logger("agentrt.store")


def migration_sql(migration: str | Mapping[str, str], dialect: str, *, component: str, version: int) -> str:
    """The SQL of one migration for ``dialect``; ``ValueError`` when a mapping lacks that dialect."""
    if isinstance(migration, str):
        return migration
    try:
        return migration[dialect]
    except KeyError:
        raise ValueError(
            f"migration {version} of {component!r} has no SQL for {dialect}: give it as one string, "
            f"or as a mapping with the keys 'sqlite' and 'postgresql' (it has {sorted(migration)})"
        ) from None


async def current_version(store: Store, component: str) -> int:
    """The applied version of ``component``: 0 when none (or when the schema table does not exist yet)."""
    if not await _schema_table_exists(store):
        return 0
    row = await store.fetchone(_SELECT_VERSION, (component,))
    return int(row[0]) if row is not None and row[0] is not None else 0


async def apply_migrations(store: Store, component: str, migrations: Sequence[str | Mapping[str, str]]) -> int:
    """Apply the migrations of ``component`` that the database lacks; return its version afterwards."""
    if not component:
        raise ValueError("a migration component needs a name, e.g. 'usage'")
    # Validate every migration for this dialect before touching the database.
    scripts = [
        migration_sql(m, store.dialect, component=component, version=i) for i, m in enumerate(migrations, start=1)
    ]
    target = len(scripts)
    version = await current_version(store, component)
    if version >= target:
        if version > target:
            _log.warning(
                "store_schema_newer_than_code",
                component=component,
                version=version,
                known=target,
                store=store.url_for_logs,
            )
        return version
    if not await _schema_table_exists(store):
        async with store.transaction() as tx:
            await store._lock_for_migrations(tx)
            await tx.execute(_CREATE_SCHEMA_TABLE)
    for number in range(version + 1, target + 1):
        async with store.transaction() as tx:
            await store._lock_for_migrations(tx)
            row = await tx.fetchone(_SELECT_VERSION, (component,))
            if row is not None and row[0] is not None and int(row[0]) >= number:
                continue  # another process applied it while we waited for the lock
            await store._run_script(tx, scripts[number - 1])
            await tx.execute(_RECORD_VERSION, (component, number, time.time()))
        _log.info("store_migrated", component=component, version=number, store=store.url_for_logs)
    return max(target, await current_version(store, component))


async def _schema_table_exists(store: Store) -> bool:
    if store.dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = ? AND schemaname = ANY(current_schemas(false))"
    return await store.fetchone(sql, (SCHEMA_TABLE,)) is not None
