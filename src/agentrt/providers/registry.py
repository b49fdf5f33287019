"""The provider kinds, and the registry holding one client per configured provider.

Kinds are the built-ins (``openai`` with its presets, ``anthropic``, ``google``,
``local``, ``azure``, ``bedrock``, ``vertex``, ``ollama``) plus whatever installed distributions declare in the
``agentrt.providers`` entry-point group, each a :data:`ProviderFactory`. A
plugin may add kinds but never replace a built-in one: that is a
``PluginError``, not a silent swap of the code that holds your API keys.

Plugins are only looked up when the configuration names a kind that is not
built in, so a broken unrelated plugin cannot stop a runtime that does not use
it, and a start with built-in kinds pays for no entry-point scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from agentrt.errors import ConfigError, ConfigProblem, PluginError, RuntimeStateError, UnknownProvider
from agentrt.providers.base import ProviderClient, ProviderFactory

if TYPE_CHECKING:
    from types import TracebackType

    from agentrt.config import ProviderSection

__all__ = ["PROVIDERS_GROUP", "ProviderRegistry", "available_kinds", "builtin_kinds"]

PROVIDERS_GROUP = "agentrt.providers"


# Each factory imports its client on first use: aiohttp is only loaded for HTTP kinds.
def _openai(name: str, section: ProviderSection) -> ProviderClient:
    from agentrt.providers._presets import apply_preset
    from agentrt.providers.openai import OpenAIClient

    return OpenAIClient(name, apply_preset(name, section))


def _anthropic(name: str, section: ProviderSection) -> ProviderClient:
    from agentrt.providers.anthropic import AnthropicClient

    return AnthropicClient(name, section)


def _google(name: str, section: ProviderSection) -> ProviderClient:
    from agentrt.providers.google import GoogleClient

    return GoogleClient(name, section)


def _local(name: str, section: ProviderSection) -> ProviderClient:
    from agentrt.providers.local import LocalClient

    return LocalClient(name, section)


def _azure(name: str, section: ProviderSection) -> ProviderClient:
    from agentrt.providers.azure import AzureOpenAIClient

    return AzureOpenAIClient(name, section)


def _bedrock(name: str, section: ProviderSection) -> ProviderClient:
    from agentrt.providers.bedrock import BedrockClient

    return BedrockClient(name, section)


def _vertex(name: str, section: ProviderSection) -> ProviderClient:
    try:
        import google.auth  # noqa: F401 - only to say what to install
    except ImportError:
        raise ConfigError(
            [ConfigProblem(f"providers.{name}.kind", "kind vertex needs google-auth: pip install 'agentrt[vertex]'")]
        ) from None
    from agentrt.providers.vertex import VertexClient

    return VertexClient(name, section)


def _ollama(name: str, section: ProviderSection) -> ProviderClient:
    from agentrt.providers.ollama import OllamaClient

    return OllamaClient(name, section)


def builtin_kinds() -> dict[str, ProviderFactory]:
    """The built-in kinds: ``openai``, ``anthropic``, ``google``, ``local``, ``azure``, ``bedrock``, ``vertex``,
    ``ollama``."""
    return {
        "openai": _openai,
        "anthropic": _anthropic,
        "google": _google,
        "local": _local,
        "azure": _azure,
        "bedrock": _bedrock,
        "vertex": _vertex,
        "ollama": _ollama,
    }


def available_kinds() -> dict[str, ProviderFactory]:
    """The built-in kinds and those of installed plugins (entry-point group ``agentrt.providers``).

    Raises ``PluginError`` when a plugin cannot be loaded, is not callable, or
    declares a built-in kind.
    """
    from agentrt.services.plugins import discover_entry_points

    kinds = builtin_kinds()
    for kind, factory in discover_entry_points(PROVIDERS_GROUP).items():
        if kind in kinds:
            raise PluginError(
                f"a plugin declares provider kind {kind!r} in entry-point group {PROVIDERS_GROUP!r}, "
                "but that kind is built in and cannot be replaced; the plugin must use another kind name",
                group=PROVIDERS_GROUP,
                name=kind,
            )
        if not callable(factory):
            raise PluginError(
                f"provider kind {kind!r} from entry-point group {PROVIDERS_GROUP!r} names a "
                f"{type(factory).__name__}, not a factory (name, section) -> ProviderClient",
                group=PROVIDERS_GROUP,
                name=kind,
            )
        kinds[kind] = factory
    return kinds


class ProviderRegistry:
    """One client per configured provider, created at construction (runtime start).

    ``kinds`` replaces the table of kinds (built-ins and plugins) when given,
    e.g. to serve a fake in tests. States: open from construction; after
    :meth:`aclose` (idempotent) :meth:`get` raises ``RuntimeStateError``.
    """

    def __init__(
        self,
        sections: Mapping[str, ProviderSection],
        *,
        kinds: Mapping[str, ProviderFactory] | None = None,
    ) -> None:
        table = dict(kinds) if kinds is not None else _kinds_for(sections)
        problems = [
            ConfigProblem(
                f"providers.{name}.kind",
                f"unknown provider kind {section.kind!r}; known kinds: {', '.join(sorted(table))} "
                f"(a plugin's kind needs its package installed, declaring entry-point group {PROVIDERS_GROUP!r})",
            )
            for name, section in sections.items()
            if section.kind not in table
        ]
        problems += [
            ConfigProblem(
                f"providers.{name}.preset",
                f"preset is a setting of kind openai (OpenAI-compatible services), not of kind {section.kind!r}; "
                "use kind: openai with the preset, or remove it",
            )
            for name, section in sections.items()
            if section.preset is not None and section.kind != "openai"
        ]
        if problems:
            raise ConfigError(problems)
        self._clients: dict[str, ProviderClient] = {}
        for name, section in sections.items():
            client = table[section.kind](name, section)
            if not isinstance(client, ProviderClient):
                raise PluginError(
                    f"the factory of provider kind {section.kind!r} returned a {type(client).__name__}, "
                    "which lacks the ProviderClient methods (complete, stream, embed, check, aclose)",
                    group=PROVIDERS_GROUP,
                    name=section.kind,
                )
            self._clients[name] = client
        self._closed = False

    def get(self, name: str) -> ProviderClient:
        """The client of provider ``name``; ``UnknownProvider`` when none is configured by that name."""
        if self._closed:
            raise RuntimeStateError("the provider registry is closed; open a new runtime")
        client = self._clients.get(name)
        if client is None:
            known = ", ".join(sorted(self._clients)) or "none"
            raise UnknownProvider(
                f"no provider named {name!r} is configured (configured: {known}); add it under providers:",
                provider=name,
            )
        return client

    def names(self) -> list[str]:
        """The configured provider names, in configuration order."""
        return list(self._clients)

    def __contains__(self, name: object) -> bool:
        return name in self._clients

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def __len__(self) -> int:
        return len(self._clients)

    async def aclose(self) -> None:
        """Close every client. A client that fails to close is logged, not raised. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for name, client in self._clients.items():
            try:
                await client.aclose()
            except Exception as err:  # one bad client must not keep the others open
                import structlog

                structlog.get_logger("agentrt.providers").warning(
                    "provider_close_failed", provider=name, error=f"{type(err).__name__}: {err}"
                )

    async def __aenter__(self) -> ProviderRegistry:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _kinds_for(sections: Mapping[str, ProviderSection]) -> dict[str, ProviderFactory]:
    kinds = builtin_kinds()
    if any(section.kind not in kinds for section in sections.values()):
        return available_kinds()
    return kinds
