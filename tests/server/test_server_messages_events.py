"""The Anthropic stream writer against the anthropic SDK's own event accumulator, for orders of events a
FakeUpstream does not produce: text after a call, calls held back with their thinking, a refusal."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event

from agentrt.providers._anthropic_wire import THINKING_BLOCKS
from agentrt.server.anthropic_events import MessageStreamWriter
from agentrt.types import Completion, TextDelta, ToolCall, ToolCallDelta, Usage

_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
THINKING = {"type": "thinking", "thinking": "I should look.", "signature": "sig-1"}


def completion(text: str, calls: list[ToolCall], refusal: str | None = None) -> Completion:
    reason = "refusal" if refusal else "tool_calls" if calls else "stop"
    return Completion(text, calls, reason, Usage(3, 4, 1), None, "m", "p", [], 0.0, refusal=refusal)


def run(
    events: list[TextDelta | ToolCallDelta], final: Completion, *, hold: bool, refusal_as_text: bool = True
) -> tuple[list[str], Any]:
    """Feed the writer; accumulate every event it wrote as the SDK does; return the event types and the message."""
    writer = MessageStreamWriter("msg_1", "m", hold_tool_calls=hold, refusal_as_text=refusal_as_text)
    raw = writer.start()
    for event in events:
        raw += writer.text(event.text) if isinstance(event, TextDelta) else writer.tool_call(event)
    raw += writer.finish(final)
    kinds: list[str] = []
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for chunk in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "data" not in lines:
            continue
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        kinds.append(data["type"])
        if data["type"] == "ping":
            continue
        event = _EVENT.validate_python(data, strict=True)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)
    return kinds, snapshot


CALL = ToolCall("toolu_1", "look", {"at": "x"})


def test_text_after_a_live_call_is_a_block_of_its_own() -> None:
    events: list[TextDelta | ToolCallDelta] = [
        TextDelta("Looking"),
        ToolCallDelta(0, "toolu_1", "look", '{"at": '),
        ToolCallDelta(0, None, None, '"x"}'),
        TextDelta(" done."),
    ]
    kinds, message = run(events, completion("Looking done.", [CALL]), hold=False)
    assert [block.type for block in message.content] == ["text", "tool_use", "text"]
    assert message.content[1].input == {"at": "x"}
    assert message.stop_reason == "tool_use"
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 3
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (2, 1, 4)


def test_held_calls_come_whole_after_their_thinking() -> None:
    thinking_call = ToolCall("toolu_1", "look", {"at": "x"}, {THINKING_BLOCKS: [THINKING]})
    events: list[TextDelta | ToolCallDelta] = [TextDelta("Let me look."), ToolCallDelta(0, "toolu_1", "look", "{}")]
    _, message = run(events, completion("Let me look.", [thinking_call]), hold=True)
    assert [block.type for block in message.content] == ["text", "thinking", "tool_use"]
    assert message.content[1].thinking == THINKING["thinking"]
    assert message.content[1].signature == THINKING["signature"]
    assert message.content[2].id == "toolu_1"  # thinking rides as a block, never inside the id
    assert message.content[2].input == {"at": "x"}


@pytest.mark.parametrize("as_text", [True, False], ids=["words", "anthropic"])
def test_a_refusal(as_text: bool) -> None:
    final = completion("", [], refusal="I can't help with that.")
    _, message = run([], final, hold=False, refusal_as_text=as_text)
    assert message.stop_reason == "refusal"
    texts = [block.text for block in message.content if block.type == "text"]
    assert texts == (["I can't help with that."] if as_text else [])
