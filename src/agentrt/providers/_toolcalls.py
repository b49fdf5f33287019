"""Tool calls: parsing their JSON arguments, and assembling them from streamed fragments.

A call whose arguments the output cap cut off (the answer's finish reason is
``length``) is not an error, and not worth a retry: the same request would be
cut off at the same place. It comes back as a call with ``arguments == {}`` and
the raw fragment under ``provider_data["truncated_arguments"]``: nothing half
written is passed off as an argument (``{"city": "Par"}`` would look valid).
"""

from __future__ import annotations

from typing import Any

import orjson

from agentrt.errors import ProviderUnavailable
from agentrt.providers._errors import malformed
from agentrt.types import ToolCall, ToolCallDelta

__all__ = ["TRUNCATED_ARGUMENTS", "ToolCallAssembler", "parse_arguments", "read_tool_call"]

TRUNCATED_ARGUMENTS = "truncated_arguments"
"""The ``ToolCall.provider_data`` key of arguments cut off by the output cap (the raw JSON text)."""


def parse_arguments(text: str | bytes, *, provider: str, model: str | None, tool: str) -> dict[str, Any]:
    """The arguments of a tool call, a JSON object sent as text (empty text means no arguments).

    Text that is not a JSON object is a malformed response: retryable, since a
    model that produced broken JSON once usually produces valid JSON on retry.
    """
    if not text or not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise malformed(provider, model, f"the arguments of tool call {tool!r} are not valid JSON") from None
    if not isinstance(value, dict):
        raise malformed(provider, model, f"the arguments of tool call {tool!r} are not a JSON object")
    return value


def read_tool_call(
    text: str,
    *,
    id: str,
    name: str,
    provider: str,
    model: str | None,
    cut_off: bool = False,
    provider_data: dict[str, Any] | None = None,
) -> ToolCall:
    """A tool call from its JSON-text arguments; ``cut_off``: the answer stopped at the output cap."""
    try:
        arguments = parse_arguments(text, provider=provider, model=model, tool=name)
    except ProviderUnavailable:
        if not cut_off:
            raise
        kept = {**(provider_data or {}), TRUNCATED_ARGUMENTS: text}
        return ToolCall(id=id, name=name, arguments={}, provider_data=kept)
    return ToolCall(id=id, name=name, arguments=arguments, provider_data=provider_data)


class _Pending:
    __slots__ = ("fragments", "id", "name", "provider_data")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.fragments: list[str] = []
        self.provider_data: dict[str, Any] | None = None


class ToolCallAssembler:
    """Collects the fragments of a response's tool calls, keyed by their index, into whole calls."""

    __slots__ = ("_calls", "_model", "_provider")

    def __init__(self, *, provider: str, model: str | None) -> None:
        self._provider = provider
        self._model = model
        self._calls: dict[int, _Pending] = {}

    def add(
        self,
        index: int,
        *,
        id: str | None = None,
        name: str | None = None,
        arguments: str = "",
        provider_data: dict[str, Any] | None = None,
    ) -> ToolCallDelta:
        """Record one fragment and return the delta event that reports it."""
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _Pending()
        if id:
            call.id = id
        if name:
            call.name = name
        if arguments:
            call.fragments.append(arguments)
        if provider_data:
            call.provider_data = provider_data
        return ToolCallDelta(index=index, id=id or None, name=name or None, arguments=arguments)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def finish(self, *, cut_off: bool = False) -> list[ToolCall]:
        """The whole calls, in index order, with their arguments parsed.

        ``cut_off``: the stream stopped at the output cap, so the last arguments may be incomplete.
        """
        calls: list[ToolCall] = []
        for index in sorted(self._calls):
            pending = self._calls[index]
            name = pending.name or ""
            if not name:
                raise malformed(self._provider, self._model, f"tool call #{index} has no name")
            calls.append(
                read_tool_call(
                    "".join(pending.fragments),
                    id=pending.id or f"call_{index}",
                    name=name,
                    provider=self._provider,
                    model=self._model,
                    cut_off=cut_off,
                    provider_data=pending.provider_data,
                )
            )
        return calls
