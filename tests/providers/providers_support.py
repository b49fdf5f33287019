"""What the provider tests share: a tool, a structured-output schema, and the canned-answer server's
state and SSE framing. (A plain module imported as ``providers_support``: the test folders are not
packages.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from agentrt.config import ProviderSection
from agentrt.providers import ProviderClient, builtin_kinds
from agentrt.types import ToolSpec

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


class Invoice(BaseModel):
    # Strict-valid as OpenAI and Anthropic want it: every field required, additionalProperties false.
    model_config = ConfigDict(extra="forbid")

    number: str
    total: float
    paid: bool


@dataclass
class Canned:
    """What the server answers next: a body sent in these pieces, with a status and content type.

    ``requests`` holds each request's decoded JSON body, in order.
    """

    pieces: list[bytes] = field(default_factory=list)
    status: int = 200
    content_type: str = "text/event-stream"
    requests: list[Any] = field(default_factory=list)

    def answer_json(self, body: Any, status: int = 200) -> None:
        """Answer the next requests with this JSON body (an API's answer or error, as recorded)."""
        self.pieces = [orjson.dumps(body)]
        self.status = status
        self.content_type = "application/json"

    def answer_events(self, events: bytes) -> None:
        """Answer the next requests with this SSE body."""
        self.pieces = [events]
        self.status = 200
        self.content_type = "text/event-stream"


def sse(*events: Any, event_names: list[str] | None = None, crlf: bool = False) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    out = b""
    for i, data in enumerate(events):
        if event_names:
            out += b"event: " + event_names[i].encode() + end
        payload = data if isinstance(data, bytes) else orjson.dumps(data)
        out += b"data: " + payload + end + end
    return out


def canned_client(kind: str, base_url: str, **options: Any) -> ProviderClient:
    """A built-in client of ``kind`` pointed at the canned server, with these provider options."""
    section = ProviderSection(kind=kind, api_key="k-123456", base_url=base_url, options=options)
    return builtin_kinds()[kind]("canned", section)
