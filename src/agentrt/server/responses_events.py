"""The Responses API's server-sent events for a streamed response, with their sequence numbers."""

from __future__ import annotations

import time
from typing import Any

import orjson

from agentrt.server.errors import ErrorInfo
from agentrt.server.responses_output import call_item, message_item, new_id, response_object
from agentrt.server.sse import format_event
from agentrt.types import Completion, ToolCallDelta

__all__ = ["ResponseEventWriter"]


class ResponseEventWriter:
    """Builds the server-sent events of one streamed response, as bytes, with their sequence numbers.

    Text streams as it comes; a function call streams as it comes unless ``hold_tool_calls``
    (then it is sent whole at the end, with the ``call_id`` that carries its provider data).
    Every streamed item stays open until the end, when their done events come in order, so
    text that follows a call still joins the one message item.
    """

    __slots__ = (
        "_call_ids",
        "_held",
        "_hold",
        "_index",
        "_item_of",
        "_message_id",
        "_seq",
        "_text",
        "created_at",
        "echo",
        "model",
        "response_id",
    )

    def __init__(self, response_id: str, model: str, echo: dict[str, Any], *, hold_tool_calls: bool) -> None:
        self.response_id = response_id
        self.model = model
        self.echo = echo
        self.created_at = int(time.time())
        self._hold = hold_tool_calls
        self._seq = 0
        self._index = 0  # the next output index
        self._message_id: str | None = None
        self._text: list[str] = []
        self._item_of: dict[int, int] = {}  # call index (-1: the message) -> output index
        self._call_ids: dict[int, str] = {}  # call index -> the item id
        self._held: set[int] = set()

    def _event(self, kind: str, **data: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return format_event(orjson.dumps(body), event=kind)

    def start(self) -> bytes:
        response = response_object(self.response_id, self.model, self.echo, created_at=self.created_at)
        return self._event("response.created", response=response) + self._event(
            "response.in_progress", response=response
        )

    def text(self, text: str) -> bytes:
        if not text:
            return b""
        out = b""
        if self._message_id is None:
            self._message_id = new_id("msg")
            self._item_of[-1] = self._index
            self._index += 1
            item = message_item(self._message_id, "", None, "in_progress")
            item["content"] = []
            out += self._event("response.output_item.added", output_index=self._item_of[-1], item=item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event(
                "response.content_part.added",
                item_id=self._message_id,
                output_index=self._item_of[-1],
                content_index=0,
                part=part,
            )
        self._text.append(text)  # text after a call still goes to the one message item: no item is done before the end
        return out + self._event(
            "response.output_text.delta",
            item_id=self._message_id,
            output_index=self._item_of[-1],
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        index = delta.index
        if index in self._held:
            return b""
        out = b""
        if index not in self._item_of:
            if self._hold or delta.id is None or delta.name is None:
                self._held.add(index)
                return b""
            self._item_of[index] = self._index
            self._index += 1
            self._call_ids[index] = new_id("fc")
            item = {
                "id": self._call_ids[index],
                "type": "function_call",
                "call_id": delta.id,
                "name": delta.name,
                "arguments": "",
                "status": "in_progress",
            }
            out += self._event("response.output_item.added", output_index=self._item_of[index], item=item)
        if delta.arguments:
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=self._call_ids[index],
                output_index=self._item_of[index],
                delta=delta.arguments,
            )
        return out

    def _item_done(self, output_index: int, item: dict[str, Any]) -> bytes:
        out = b""
        if item["type"] == "message":
            for n, part in enumerate(item["content"]):
                if part["type"] == "output_text":
                    out += self._event(
                        "response.output_text.done",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        text=part["text"],
                        logprobs=[],
                    )
                else:
                    out += self._event(
                        "response.refusal.done",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        refusal=part["refusal"],
                    )
                out += self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=output_index,
                    content_index=n,
                    part=part,
                )
        else:
            out += self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=output_index,
                name=item["name"],
                arguments=item["arguments"],
            )
        return out + self._event("response.output_item.done", output_index=output_index, item=item)

    def _whole_item(self, item: dict[str, Any]) -> bytes:
        """An item not streamed: added, its content in one piece, done."""
        output_index = self._index
        self._index += 1
        started = {**item, "status": "in_progress"}
        if item["type"] == "message":
            started["content"] = []
        else:
            started["arguments"] = ""
        out = self._event("response.output_item.added", output_index=output_index, item=started)
        if item["type"] == "message":
            for n, part in enumerate(item["content"]):
                empty = {**part, "text": ""} if part["type"] == "output_text" else {**part, "refusal": ""}
                out += self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=output_index,
                    content_index=n,
                    part=empty,
                )
                if part["type"] == "output_text" and part["text"]:
                    out += self._event(
                        "response.output_text.delta",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        delta=part["text"],
                        logprobs=[],
                    )
                elif part["type"] == "refusal":
                    out += self._event(
                        "response.refusal.delta",
                        item_id=item["id"],
                        output_index=output_index,
                        content_index=n,
                        delta=part["refusal"],
                    )
        elif item["arguments"]:
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=output_index,
                delta=item["arguments"],
            )
        return out + self._item_done(output_index, item)

    def output(self, completion: Completion) -> list[dict[str, Any]]:
        """The final output items, with the ids streamed, in the order streamed (held calls last)."""
        streamed_text = "".join(self._text)
        items: list[tuple[int, dict[str, Any]]] = []
        if self._message_id is not None:
            items.append((self._item_of[-1], message_item(self._message_id, streamed_text, None, "completed")))
        later: list[dict[str, Any]] = []
        if self._message_id is None and (completion.text or completion.refusal or not completion.tool_calls):
            later.append(message_item(new_id("msg"), completion.text, completion.refusal, "completed"))
        elif completion.refusal:
            later.append(message_item(new_id("msg"), "", completion.refusal, "completed"))
        for index, call in enumerate(completion.tool_calls):
            if index in self._item_of:
                item = call_item(self._call_ids[index], call, "completed")
                items.append((self._item_of[index], item))
            else:
                later.append(call_item(new_id("fc"), call, "completed"))
        items.sort(key=lambda pair: pair[0])
        return [item for _, item in items] + later

    def finish(self, completion: Completion, output: list[dict[str, Any]], response: dict[str, Any]) -> bytes:
        """The closing events: each streamed item done, the held ones whole, then ``response.completed``
        (``response.incomplete`` when the answer was cut)."""
        out = b""
        streamed = len(self._item_of)
        for output_index, item in enumerate(output[:streamed]):
            out += self._item_done(output_index, item)
        for item in output[streamed:]:
            out += self._whole_item(item)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return out + self._event(kind, response=response)

    def failed(self, info: ErrorInfo) -> bytes:
        """After an error: OpenAI's ``error`` event, then ``response.failed``."""
        response = response_object(self.response_id, self.model, self.echo, created_at=self.created_at, error=info)
        error = self._event("error", code=info.code or info.type, message=info.message, param=info.param)
        return error + self._event("response.failed", response=response)
