"""The model catalog as a runtime service, reconfigured with the ``models`` section on reload."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.config import Config
from agentrt.models._catalog import ModelCatalog
from agentrt.services import service

__all__ = ["model_catalog_service"]


@service(name="models", version="1", config_section="models")
async def model_catalog_service(config: Config) -> AsyncIterator[ModelCatalog]:
    """The :class:`ModelCatalog` of ``config``; a reload hands it the new ``models`` section.

    A reload that changes only ``providers`` does not reach the catalog: the
    providers' kinds only choose where prices are looked up.
    """
    yield ModelCatalog(config.models, config.providers)
