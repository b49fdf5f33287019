"""The catalog as a service: started from Config, reconfigured with the models section."""

from __future__ import annotations

from agentrt.config import Config
from agentrt.models import ModelCatalog
from agentrt.models.service import model_catalog_service
from agentrt.services import ServiceContainer

CONFIG = {
    "providers": {"offline": {"kind": "local"}},
    "models": {"small": {"provider": "offline", "aliases": ["default"]}},
}


async def test_the_service_serves_the_catalog_of_the_config_and_takes_the_models_section() -> None:
    config = Config.model_validate(CONFIG)
    container = ServiceContainer()
    container.provide(Config, config)
    container.register(model_catalog_service)

    async with container:
        catalog = container.get(ModelCatalog)
        assert catalog.resolve("default").name == "small"

        targets = container.reconfigurable("models")
        assert [instance for _, instance in targets] == [catalog]

        reloaded = Config.model_validate(
            {**CONFIG, "models": {"large": {"provider": "offline", "aliases": ["default"]}}}
        )
        for _, instance in targets:
            instance.reconfigure(reloaded.models)  # type: ignore[attr-defined]
        assert catalog.resolve("default").name == "large"
