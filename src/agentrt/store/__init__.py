"""Persistence: one SQL store (SQLite by default, PostgreSQL to share it), the usage ledger and the audit trail.

::

    from agentrt.store import open_store

    async with open_store("sqlite:///agentrt.db") as store:
        await store.migrate("notes", ["CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT)"])
        async with store.transaction() as tx:
            await tx.execute("INSERT INTO notes (id, body) VALUES (?, ?)", (1, "hello"))
        rows = await store.fetchall("SELECT body FROM notes")

The runtime services (``store_service``, ``ledger_service``, ``audit_service``)
are resolved on first use, so importing this package does not import the
configuration or the service container.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentrt.store._base import Dialect, Params, Row, Store, Transaction
from agentrt.store._url import open_store
from agentrt.store.audit import AuditRecord, AuditTrail
from agentrt.store.ledger import UsageLedger, UsageRecord, UsageSummary
from agentrt.store.migrations import Migration, current_version

if TYPE_CHECKING:
    from agentrt.store.service import audit_service, ledger_service, store_service

__all__ = [
    "AuditRecord",
    "AuditTrail",
    "Dialect",
    "Migration",
    "Params",
    "Row",
    "Store",
    "Transaction",
    "UsageLedger",
    "UsageRecord",
    "UsageSummary",
    "audit_service",
    "current_version",
    "ledger_service",
    "open_store",
    "store_service",
]

_LAZY = {"store_service", "ledger_service", "audit_service"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("agentrt.store.service"), name)
    raise AttributeError(f"module 'agentrt.store' has no attribute {name!r}")
