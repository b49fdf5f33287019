"""The store's runtime services: the store itself, the usage ledger and the audit trail.

Each opens at start and closes at stop; the container stops them in reverse
order, so the ledger and the audit trail write their last rows before the
store closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.config import Config
from agentrt.services import service
from agentrt.store._base import Store
from agentrt.store._url import open_store
from agentrt.store.audit import AuditTrail
from agentrt.store.ledger import UsageLedger

__all__ = ["audit_service", "ledger_service", "store_service"]


@service(name="store", version="1")
async def store_service(config: Config) -> AsyncIterator[Store]:
    """The store named by ``store.url``.

    A relative ``sqlite:///`` path was made absolute against the config file's
    directory when the file was loaded; for a config built in code it is
    relative to the working directory.
    """
    store = open_store(config.store.url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@service(name="ledger", version="1")
async def ledger_service(store: Store) -> AsyncIterator[UsageLedger]:
    """The usage ledger: its table migrated at start, every queued row written at stop."""
    ledger = UsageLedger(store)
    await ledger.start()
    try:
        yield ledger
    finally:
        await ledger.close()


@service(name="audit", version="1")
async def audit_service(store: Store) -> AsyncIterator[AuditTrail]:
    """The audit trail of policy decisions: migrated at start, every queued row written at stop."""
    audit = AuditTrail(store)
    await audit.start()
    try:
        yield audit
    finally:
        await audit.close()
