"""The Responses stream writer against the openai SDK's own stream state machine, for orders of events a
FakeUpstream does not produce: text after a call, calls held back, several calls, a refusal."""

from __future__ import annotations

import json
from typing import Any

import pydantic
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent as RawEvent

from agentrt.server.responses_events import ResponseEventWriter
from agentrt.server.responses_models import ResponseObject
from agentrt.server.responses_output import response_object
from agentrt.types import Completion, TextDelta, ToolCall, ToolCallDelta, Usage

ECHO: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "store": False,
    "temperature": None,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": None,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
}
_EVENT = pydantic.TypeAdapter(RawEvent)


def completion(text: str, calls: list[ToolCall], refusal: str | None = None) -> Completion:
    reason = "tool_calls" if calls else "stop"
    return Completion(text, calls, reason, Usage(3, 4), None, "m", "p", [], 0.0, refusal=refusal)


def run(events: list[TextDelta | ToolCallDelta], final: Completion, *, hold: bool) -> tuple[list[str], Any]:
    """Feed the writer; parse every event it wrote with the SDK; return the event types and the SDK's
    final response."""
    writer = ResponseEventWriter("resp_1", "m", ECHO, hold_tool_calls=hold)
    raw = writer.start()
    for event in events:
        raw += writer.text(event.text) if isinstance(event, TextDelta) else writer.tool_call(event)
    output = writer.output(final)
    answer = response_object("resp_1", "m", ECHO, created_at=writer.created_at, completion=final, output=output)
    ResponseObject.model_validate(answer)
    raw += writer.finish(final, output, answer)
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=omit)
    kinds, numbers = [], []
    for chunk in raw.decode().split("\n\n"):
        data = next((line[6:] for line in chunk.splitlines() if line.startswith("data: ")), None)
        if data is None:
            continue
        event = _EVENT.validate_python(json.loads(data))
        kinds.append(event.type)
        numbers.append(event.sequence_number)
        state.handle_event(event)
    assert numbers == list(range(len(numbers)))
    return kinds, state._completed_response


CALL = ToolCall("call_1", "look", {"at": "x"})
OTHER = ToolCall("call_2", "look", {"at": "y"})


@pytest.mark.parametrize("hold", [False, True], ids=["live", "held"])
def test_text_after_a_call_joins_the_one_message(hold: bool) -> None:
    events: list[TextDelta | ToolCallDelta] = [
        TextDelta("Looking"),
        ToolCallDelta(0, "call_1", "look", '{"at": '),
        TextDelta(" now."),
        ToolCallDelta(0, None, None, '"x"}'),
    ]
    kinds, response = run(events, completion("Looking now.", [CALL]), hold=hold)
    assert kinds[-1] == "response.completed"
    assert [item.type for item in response.output] == ["message", "function_call"]
    assert response.output_text == "Looking now."
    assert json.loads(response.output[1].arguments) == {"at": "x"}
    assert response.output[1].call_id == "call_1"


@pytest.mark.parametrize("hold", [False, True], ids=["live", "held"])
def test_several_calls_and_no_text(hold: bool) -> None:
    events: list[TextDelta | ToolCallDelta] = [
        ToolCallDelta(0, "call_1", "look", '{"at": "x"}'),
        ToolCallDelta(1, "call_2", "look", '{"at": "y"}'),
    ]
    kinds, response = run(events, completion("", [CALL, OTHER]), hold=hold)
    assert [item.type for item in response.output] == ["function_call", "function_call"]
    assert [item.call_id for item in response.output] == ["call_1", "call_2"]
    assert kinds.count("response.output_item.done") == 2


def test_a_refusal_is_a_refusal_part() -> None:
    kinds, response = run([], completion("", [], refusal="I can't help with that."), hold=False)
    assert "response.refusal.done" in kinds
    (message,) = response.output
    assert message.content[-1].type == "refusal"
    assert message.content[-1].refusal == "I can't help with that."
