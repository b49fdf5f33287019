"""What every provider client is: the :class:`ProviderClient` protocol and its factory type.

A client speaks one provider's API for one configured provider entry. The
call pipeline (``agentrt.calls``) adds retries, timeouts, breakers, policy and
accounting around it; a client does one attempt and reports failures as
:mod:`agentrt.errors` classes (``ProviderRateLimited`` with ``retry_after``,
``ProviderQuotaExceeded``, ``ProviderTimeout``, ``ProviderUnavailable``,
``ProviderAuthError``, ``ProviderBadRequest``, ``ContextLengthExceeded``), which
is what the resilience layer decides on.

A plugin adds a kind by declaring an entry point in the ``agentrt.providers``
group that names a :data:`ProviderFactory`::

    [project.entry-points."agentrt.providers"]
    mykind = "my_package:make_client"      # def make_client(name, section) -> ProviderClient
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from agentrt.config import ProviderSection
    from agentrt.types import (
        ChatRequest,
        EmbeddingRequest,
        ProviderEmbeddings,
        ProviderResponse,
        ProviderStreamEvent,
    )

__all__ = ["ProviderClient", "ProviderFactory"]


@runtime_checkable
class ProviderClient(Protocol):
    """One configured provider: chat, streaming, embeddings and a health check.

    Lifetime: usable from creation (connections are opened on first use, inside
    the running event loop) until :meth:`aclose`; closing twice is harmless.
    """

    @property
    def name(self) -> str:
        """The configured provider name (the key under ``providers:``)."""
        ...

    @property
    def kind(self) -> str:
        """The provider kind: ``openai``, ``anthropic``, ``google``, ``local`` or a plugin's."""
        ...

    async def complete(self, request: ChatRequest) -> ProviderResponse:
        """One chat completion."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ProviderStreamEvent]:
        """Stream one chat completion (an async generator).

        Yields ``TextDelta`` and ``ToolCallDelta`` events as they arrive, then
        exactly one ``StreamFinish`` with the usage and the assembled tool calls.
        A stream cut off before the provider's end marker raises
        ``ProviderUnavailable``.
        """
        ...

    async def embed(self, request: EmbeddingRequest) -> ProviderEmbeddings:
        """One vector per input, in order."""
        ...

    async def check(self) -> str:
        """A cheap authenticated request (e.g. listing models); returns a short description."""
        ...

    async def aclose(self) -> None:
        """Release connections. Idempotent."""
        ...


ProviderFactory: TypeAlias = Callable[[str, "ProviderSection"], ProviderClient]
"""Builds the client of one configured provider from its name and section."""
