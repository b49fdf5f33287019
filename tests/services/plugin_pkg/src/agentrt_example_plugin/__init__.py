"""An example agentrt plugin: one service (``ExampleGreeter``) and one provider kind."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentrt.services import service


class ExampleGreeter:
    """The instance the plugin's service provides."""

    def __init__(self) -> None:
        self.closed = False

    def greet(self, name: str) -> str:
        return f"hello, {name}"

    def health(self) -> dict[str, str]:
        return {"plugin": "example"}


@service(version="2.1")
async def example_service() -> AsyncIterator[ExampleGreeter]:
    greeter = ExampleGreeter()
    yield greeter
    greeter.closed = True


class ExampleProviderKind:
    """A stand-in for a provider kind (the real protocol lives in agentrt.providers)."""

    kind = "example"
