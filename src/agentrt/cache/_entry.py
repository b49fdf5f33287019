"""A cached answer, and its bytes: what a call returned, or the events a stream delivered.

Only complete answers are stored: finish reason ``stop`` or ``tool_calls``
(``None`` too, for providers that give none). Not stored: answers cut at the
output limit (``length``), content-filtered answers and refusals (they depend
on more than the request, and a cached refusal would outlive its cause), and
streams that did not reach their end (left early, failed, cut at the cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from agentrt.types import Completion, RefusalDelta, StreamEvent, TextDelta, ToolCall, ToolCallDelta

__all__ = ["STORED_FINISH_REASONS", "CachedAnswer"]

STORED_FINISH_REASONS = frozenset({"stop", "tool_calls", None})
"""The finish reasons of answers the cache keeps."""


@dataclass(slots=True)
class CachedAnswer:
    """What the cache keeps of one answer; ``stream`` holds a stream's events (text, refusal, tool-call deltas)."""

    text: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    refusal: str | None
    provider: str
    deployment: str | None = None
    stream: list[StreamEvent] | None = None

    @classmethod
    def of(cls, completion: Completion, events: list[StreamEvent] | None = None) -> CachedAnswer | None:
        """The answer to keep of ``completion`` (and the ``events`` it was streamed as), or None: not kept."""
        if completion.finish_reason not in STORED_FINISH_REASONS or completion.refusal is not None:
            return None
        return cls(
            completion.text,
            list(completion.tool_calls),
            completion.finish_reason,
            completion.refusal,
            completion.provider,
            completion.deployment,
            events,
        )

    def events(self) -> list[StreamEvent]:
        """The events to replay: the stored stream's, or those of a whole answer (its text, then its tool calls)."""
        if self.stream is not None:
            return self.stream
        events: list[StreamEvent] = []
        if self.text:
            events.append(TextDelta(self.text))
        for index, call in enumerate(self.tool_calls):
            arguments = orjson.dumps(call.arguments).decode()
            events.append(ToolCallDelta(index, call.id, call.name, arguments))
        return events

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "text": self.text,
                "tool_calls": [[c.id, c.name, c.arguments, c.provider_data] for c in self.tool_calls],
                "finish_reason": self.finish_reason,
                "refusal": self.refusal,
                "provider": self.provider,
                "deployment": self.deployment,
                "stream": None if self.stream is None else [_event_json(event) for event in self.stream],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> CachedAnswer:
        raw = orjson.loads(data)
        stream = raw["stream"]
        return cls(
            raw["text"],
            [
                ToolCall(id_, name, arguments, provider_data)
                for id_, name, arguments, provider_data in raw["tool_calls"]
            ],
            raw["finish_reason"],
            raw["refusal"],
            raw["provider"],
            raw["deployment"],
            None if stream is None else [_event(item) for item in stream],
        )


def _event_json(event: StreamEvent) -> list[Any]:
    if isinstance(event, TextDelta):
        return ["t", event.text]
    if isinstance(event, RefusalDelta):
        return ["r", event.text]
    if isinstance(event, ToolCallDelta):
        return ["c", event.index, event.id, event.name, event.arguments]
    raise TypeError(f"a {type(event).__name__} is not stored in a cached stream")


def _event(item: list[Any]) -> StreamEvent:
    kind = item[0]
    if kind == "t":
        return TextDelta(item[1])
    if kind == "r":
        return RefusalDelta(item[1])
    return ToolCallDelta(item[1], item[2], item[3], item[4])
