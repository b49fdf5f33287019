"""Provider clients: one per configured provider, speaking each provider's wire format.

::

    registry = ProviderRegistry(config.providers)        # unknown kind: ConfigError, here
    client = registry.get("openai")
    response = await client.complete(ChatRequest(model="gpt-4o-mini", messages=[Message.user("hi")]))
    async for event in client.stream(request): ...       # TextDelta / ToolCallDelta ..., then StreamFinish
    await registry.aclose()

Kinds: ``openai`` (and every OpenAI-compatible endpoint, with presets), ``anthropic``,
``google`` (Gemini), ``local`` (offline, deterministic), ``azure``, ``bedrock``,
``vertex``, ``ollama`` and those of plugins
(entry-point group ``agentrt.providers``, each naming a :data:`ProviderFactory`).

The HTTP clients share one aiohttp session per client (``_http``), an SSE
parser (``_sse``) and the mapping of failures to :mod:`agentrt.errors`
(``_errors``). The client classes are imported on first access, so
``import agentrt.providers`` does not load aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentrt._lazy import lazy_exports
from agentrt.providers.base import ProviderClient, ProviderFactory
from agentrt.providers.registry import PROVIDERS_GROUP, ProviderRegistry, available_kinds, builtin_kinds

if TYPE_CHECKING:
    from agentrt.providers.anthropic import AnthropicClient
    from agentrt.providers.azure import AzureOpenAIClient
    from agentrt.providers.bedrock import BedrockClient
    from agentrt.providers.google import GoogleClient
    from agentrt.providers.local import LocalClient
    from agentrt.providers.ollama import OllamaClient
    from agentrt.providers.openai import OpenAIClient
    from agentrt.providers.vertex import VertexClient

__all__ = [
    "PROVIDERS_GROUP",
    "AnthropicClient",
    "AzureOpenAIClient",
    "BedrockClient",
    "GoogleClient",
    "LocalClient",
    "OllamaClient",
    "OpenAIClient",
    "ProviderClient",
    "ProviderFactory",
    "ProviderRegistry",
    "VertexClient",
    "available_kinds",
    "builtin_kinds",
]

_LAZY = {
    "AnthropicClient": "agentrt.providers.anthropic",
    "AzureOpenAIClient": "agentrt.providers.azure",
    "BedrockClient": "agentrt.providers.bedrock",
    "OllamaClient": "agentrt.providers.ollama",
    "VertexClient": "agentrt.providers.vertex",
    "GoogleClient": "agentrt.providers.google",
    "LocalClient": "agentrt.providers.local",
    "OpenAIClient": "agentrt.providers.openai",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
