"""Which provider kind serves a model name: the gateway's wire formats translate by it.

An Anthropic-format request to an Anthropic model passes Anthropic's own
parameters (``thinking``, ``top_k``...) through; to an OpenAI model they are
left out. Tool calls of kinds that keep reasoning state in them (Anthropic's
thinking, also through Bedrock; Gemini's thoughtSignature, also on Vertex) are streamed whole, once their ids and
provider data are complete. Looked up once per model name and configuration
version: a reload that moves a model to another provider is seen at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentrt.errors import AgentRTError

if TYPE_CHECKING:
    from agentrt.runtime import Runtime

__all__ = ["REASONING_KINDS", "ModelKinds"]

REASONING_KINDS = frozenset({"anthropic", "google", "vertex", "bedrock"})
"""Provider kinds that keep reasoning state in ``ToolCall.provider_data`` (see :mod:`agentrt.server.reasoning`)."""


class ModelKinds:
    """The provider kind of each model name or alias of a runtime's catalog, cached per config version."""

    __slots__ = ("_kinds", "_rt", "_version")

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._kinds: dict[str, str | None] = {}
        self._version = -1

    def kind(self, model: str) -> str | None:
        """The kind (``openai``, ``anthropic``, ...) of the provider serving ``model``; None when unknown
        (the call itself then says why)."""
        rt = self._rt
        if self._version != rt.config_version:
            self._kinds, self._version = {}, rt.config_version
        if model in self._kinds:
            return self._kinds[model]
        try:
            provider = rt.config.providers.get(rt.models.resolve(model).provider)
        except AgentRTError:
            return None
        found = self._kinds[model] = provider.kind if provider is not None else None
        return found

    def keeps_reasoning(self, model: str) -> bool:
        """Whether ``model``'s tool calls carry provider data that is complete only at the end of a stream."""
        return self.kind(model) in REASONING_KINDS
