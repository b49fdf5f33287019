"""Anthropic's server-sent events for a streamed message: ``message_start`` ... ``message_stop``."""

from __future__ import annotations

from typing import Any

import orjson

from agentrt.server.anthropic_answer import shown_text, stop_reason, thinking_of, tool_use, usage_body
from agentrt.server.sse import format_event
from agentrt.types import Completion, ToolCallDelta

__all__ = ["MessageStreamWriter"]


def _event(data: dict[str, Any]) -> bytes:
    return format_event(orjson.dumps(data), event=data["type"])


class MessageStreamWriter:
    """Builds the server-sent events of one streamed message, as bytes.

    Text streams as it comes. A tool call streams as it comes (``input_json_delta``) unless
    ``hold_tool_calls``: then it is sent whole at the end, after the thinking that led to it,
    with the id that carries its provider data.
    """

    __slots__ = ("_held", "_hold", "_live", "_message_id", "_model", "_next", "_open", "_refusal_as_text", "_text")

    def __init__(self, message_id: str, model: str, *, hold_tool_calls: bool, refusal_as_text: bool) -> None:
        self._message_id = message_id
        self._model = model
        self._hold = hold_tool_calls
        self._refusal_as_text = refusal_as_text
        self._next = 0  # the index of the next content block
        self._open: tuple[str, int] | None = None  # ("text", -1) or ("tool", call index), with its block index
        self._live: set[int] = set()  # call indexes streamed as they came
        self._held: set[int] = set()
        self._text = False

    def start(self) -> bytes:
        message: dict[str, Any] = {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self._model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event({"type": "message_start", "message": message}) + _event({"type": "ping"})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return _event({"type": "content_block_stop", "index": self._next - 1})

    def _open_block(self, kind: str, call: int, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self._open = (kind, call)
        self._next += 1
        return out + _event({"type": "content_block_start", "index": self._next - 1, "content_block": block})

    def text(self, text: str) -> bytes:
        if not text:
            return b""
        out = b"" if self._open == ("text", -1) else self._open_block("text", -1, {"type": "text", "text": ""})
        self._text = True
        delta = {"type": "text_delta", "text": text}
        return out + _event({"type": "content_block_delta", "index": self._next - 1, "delta": delta})

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        index = delta.index
        if index in self._held:
            return b""
        out = b""
        if index not in self._live:
            if self._hold or delta.id is None or delta.name is None:
                self._held.add(index)  # sent whole by finish()
                return b""
            self._live.add(index)
            block = {"type": "tool_use", "id": delta.id, "name": delta.name, "input": {}}
            out = self._open_block("tool", index, block)
        elif self._open != ("tool", index):
            return b""  # a piece of a call whose block is closed: the final answer has it whole
        if delta.arguments:
            json_delta = {"type": "input_json_delta", "partial_json": delta.arguments}
            out += _event({"type": "content_block_delta", "index": self._next - 1, "delta": json_delta})
        return out

    def _whole_block(self, block: dict[str, Any]) -> bytes:
        """A block sent in one piece: its start, its content as one delta, its stop."""
        kind = block["type"]
        if kind == "thinking":
            out = self._open_block("thinking", -1, {"type": "thinking", "thinking": "", "signature": ""})
            index = self._next - 1
            out += _event(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": block.get("thinking", "")},
                }
            )
            signature = {"type": "signature_delta", "signature": block.get("signature", "")}
            out += _event({"type": "content_block_delta", "index": index, "delta": signature})
        elif kind == "tool_use":
            out = self._open_block("tool", -1, {**block, "input": {}})
            json_delta = {"type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()}
            out += _event({"type": "content_block_delta", "index": self._next - 1, "delta": json_delta})
        else:  # redacted thinking, text: whole in their start
            out = self._open_block(kind, -1, block)
        return out + self._close_block()

    def finish(self, completion: Completion) -> bytes:
        """The closing events: what was held back, the stop reason and usage, ``message_stop``."""
        out = b""
        if not self._text:
            text = shown_text(completion, self._refusal_as_text)
            if text:
                out += self.text(text)
        for index, call in enumerate(completion.tool_calls):
            if index in self._live:
                continue
            for block in thinking_of(call):
                out += self._whole_block(block)
            out += self._whole_block(tool_use(call))
        out += self._close_block()
        reason, sequence = stop_reason(completion)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        out += _event({"type": "message_delta", "delta": delta, "usage": usage_body(completion)})
        return out + _event({"type": "message_stop"})
