"""The ``responses`` service: the stored responses of the Responses API, and their retention."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.config import Config
from agentrt.services import service
from agentrt.store._base import Store
from agentrt.store.responses import ResponseStore, prune_responses
from agentrt.store.retention import Pruner

__all__ = ["responses_service"]


@service(name="responses", version="1")
async def responses_service(config: Config, store: Store) -> AsyncIterator[ResponseStore]:
    """The stored responses of the Responses API: migrated at start; with ``store.retention.responses``
    set, rows past that age are pruned in the background (``responses.pruner``)."""
    responses = ResponseStore(store)
    await responses.start()
    retention = config.store.retention
    keep = retention.responses
    if keep is not None:
        batch_size = retention.batch_size

        async def prune(before: float) -> int:
            return await prune_responses(store, before, batch_size=batch_size)

        responses.pruner = Pruner("responses", prune, keep=keep, every=retention.every)
        responses.pruner.start()
    try:
        yield responses
    finally:
        await responses.close()
