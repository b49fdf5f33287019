"""The store's runtime services: the store itself, the usage ledger and the audit trail.

Each opens at start and closes at stop; the container stops them in reverse
order, so the ledger and the audit trail write their last rows before the
store closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from agentrt.config import Config, StoreSection
from agentrt.services import service
from agentrt.store._base import Store
from agentrt.store._url import open_store
from agentrt.store.audit import AuditTrail
from agentrt.store.ledger import UsageLedger
from agentrt.store.retention import Pruner, prune_audit, prune_ledger

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
async def ledger_service(config: Config, store: Store, audit: AuditTrail) -> AsyncIterator[UsageLedger]:
    """The usage ledger: its table migrated at start, every queued row written at stop.

    Its rows are written with or after the audit trail's queued decisions (``UsageLedger(audit=...)``), so a
    crash never leaves a call in the ledger without its audit rows; it stops before the audit trail.

    With ``store.retention.ledger`` set, rows past that age are rolled up and
    pruned in the background (``ledger.pruner``).
    """
    ledger = UsageLedger(store, audit=audit)
    await ledger.start()
    retention = config.store.retention
    if retention.ledger is not None:
        ledger.pruner = _pruner("ledger", store, prune_ledger, retention.ledger, retention)
    try:
        yield ledger
    finally:
        try:
            if ledger.pruner is not None:
                await ledger.pruner.close()
        finally:
            await ledger.close()


@service(name="audit", version="1")
async def audit_service(config: Config, store: Store) -> AsyncIterator[AuditTrail]:
    """The audit trail of policy decisions: migrated at start, every queued row written at stop.

    With ``store.retention.audit`` set, rows past that age are pruned in the background (``audit.pruner``).
    """
    audit = AuditTrail(store)
    await audit.start()
    retention = config.store.retention
    if retention.audit is not None:
        audit.pruner = _pruner("audit", store, prune_audit, retention.audit, retention)
    try:
        yield audit
    finally:
        try:
            if audit.pruner is not None:
                await audit.pruner.close()
        finally:
            await audit.close()


def _pruner(
    name: str, store: Store, prune: Callable[..., Awaitable[int]], keep: float, retention: StoreSection.Retention
) -> Pruner:
    async def run(before: float) -> int:
        return await prune(store, before, batch_size=retention.batch_size)

    pruner = Pruner(name, run, keep=keep, every=retention.every)
    pruner.start()
    return pruner
