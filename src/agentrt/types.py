"""The unified types of a model call, shared by every provider, the call pipeline and agents.

They are slotted dataclasses rather than pydantic models: one call creates a
handful of them, and on the hot path construction cost is part of the overhead
the runtime adds to a call.

A request travels as a :class:`ChatRequest` (or :class:`EmbeddingRequest`) to
a provider client, which answers with a :class:`ProviderResponse` (or stream
events, or :class:`ProviderEmbeddings`); the pipeline turns that into the
:class:`Completion` callers get, adding cost, attempts and latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "Attempt",
    "ChatRequest",
    "Completed",
    "Completion",
    "ContentPart",
    "EmbeddingRequest",
    "Embeddings",
    "ImagePart",
    "Message",
    "ProviderEmbeddings",
    "ProviderResponse",
    "ProviderStreamEvent",
    "RefusalDelta",
    "ResponseFormat",
    "Role",
    "StreamEvent",
    "StreamFinish",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
]

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True, frozen=True)
class TextPart:
    text: str


@dataclass(slots=True, frozen=True)
class ImagePart:
    """An image given by URL, or inline as bytes with their media type (``image/png``).

    ``detail`` is OpenAI's ``image_url.detail`` (``low``, ``high``, ``auto``), sent to OpenAI as given.
    """

    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("an ImagePart takes url= or data= (with media_type=), not both or neither")
        if self.data is not None and not self.media_type:
            raise ValueError("an ImagePart with data= needs media_type=, e.g. 'image/png'")


ContentPart: TypeAlias = TextPart | ImagePart


@dataclass(slots=True)
class ToolCall:
    """The model asks for ``name`` to be called with ``arguments`` (parsed JSON object).

    ``id`` is the provider's id, echoed back with the result so the model can
    match them. ``provider_data`` is opaque data the provider needs back with
    the call in later turns (Gemini's ``thoughtSignature``); keep it when the
    call goes back into the conversation.

    A call whose arguments the output cap cut off (the answer's finish reason
    is ``length``) has ``arguments == {}`` and the raw, incomplete JSON text
    under ``provider_data["truncated_arguments"]``: no half-written value is
    passed off as an argument.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    provider_data: dict[str, Any] | None = None


@dataclass(slots=True)
class Message:
    role: Role
    content: str | list[ContentPart] = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None  # role "tool": which call this answers
    name: str | None = None  # role "tool": the tool's name (Gemini needs it)

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", text)

    @classmethod
    def user(cls, content: str | list[ContentPart]) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, text: str = "", tool_calls: list[ToolCall] | None = None) -> Message:
        return cls("assistant", text, tool_calls=list(tool_calls or ()))

    @classmethod
    def tool(cls, tool_call_id: str, content: str, *, name: str | None = None) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id, name=name)

    @property
    def text(self) -> str:
        """The text of the message, parts joined; images left out."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def has_images(self) -> bool:
        return not isinstance(self.content, str) and any(isinstance(p, ImagePart) for p in self.content)


@dataclass(slots=True, frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON Schema of its arguments.

    ``strict``: the arguments must follow the schema exactly (OpenAI's and Anthropic's
    ``strict``; the schema must then be strict-valid); None sends nothing.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool | None = None


@dataclass(slots=True, frozen=True)
class ResponseFormat:
    """Ask for JSON output; with ``schema``, JSON that validates against it."""

    schema: dict[str, Any] | None = None
    name: str = "output"
    strict: bool = True


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0  # part of input_tokens served from the provider's prompt cache

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(slots=True)
class ChatRequest:
    """What a provider client is asked to do. ``model`` is the provider's own name for the model.

    ``params`` holds every other parameter, passed to the provider as given, so a
    new provider feature works without waiting for agentrt.
    """

    model: str
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProviderResponse:
    """A provider's answer, before the pipeline adds cost and attempts. ``raw`` is the decoded body.

    ``finish_reason`` uses OpenAI's words for every provider: ``stop``, ``length``,
    ``tool_calls``, ``content_filter``, and ``refusal`` when the model refused
    (``refusal`` then holds its explanation).
    """

    text: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    usage: Usage
    model: str
    raw: Any = None
    refusal: str | None = None


@dataclass(slots=True, frozen=True)
class TextDelta:
    text: str


@dataclass(slots=True, frozen=True)
class RefusalDelta:
    """A piece of the model's refusal (OpenAI's ``delta.refusal``): not part of the text."""

    text: str


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    """A piece of a tool call being streamed: ``index`` identifies the call within the response."""

    index: int
    id: str | None
    name: str | None
    arguments: str  # a fragment of the JSON arguments


@dataclass(slots=True, frozen=True)
class StreamFinish:
    """The provider's last stream event: why it stopped, the usage, the whole tool calls."""

    finish_reason: str | None
    usage: Usage
    tool_calls: list[ToolCall]
    model: str
    refusal: str | None = None


ProviderStreamEvent: TypeAlias = TextDelta | RefusalDelta | ToolCallDelta | StreamFinish


@dataclass(slots=True)
class Attempt:
    """One try of one model during a call: which model, how long, and the error if it failed."""

    model: str
    provider: str
    latency: float
    error: str | None = None  # "ProviderRateLimited: ..." ; None when it succeeded
    error_type: str | None = None
    deployment: str | None = None  # the deployment tried (``provider/name``), for a model with deployments

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class Completion:
    """The result of ``generate``. ``cost`` is USD, or None when the model's price is unknown."""

    text: str
    tool_calls: list[ToolCall]
    finish_reason: str | None
    usage: Usage
    cost: float | None
    model: str  # the configured model name that answered (after fallbacks)
    provider: str
    attempts: list[Attempt]
    latency: float
    raw: Any = None
    messages: list[Message] = field(default_factory=list)  # the conversation, tool turns included
    refusal: str | None = None  # the model's refusal; finish_reason is then "refusal"
    request_id: str | None = None  # joins the ledger row, the audit row, the log lines and the span
    deployment: str | None = None  # the deployment that answered (``provider/name``), for a model with deployments
    cached: bool = False  # served from the response cache: no provider call, 0 tokens, $0


@dataclass(slots=True, frozen=True)
class Completed:
    """The last event of ``stream``: the whole completion, usage and cost included."""

    completion: Completion


StreamEvent: TypeAlias = TextDelta | RefusalDelta | ToolCallDelta | Completed


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[str]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProviderEmbeddings:
    vectors: list[list[float]]
    usage: Usage
    model: str
    raw: Any = None


@dataclass(slots=True)
class Embeddings:
    vectors: list[list[float]]
    usage: Usage
    cost: float | None
    model: str
    provider: str
    attempts: list[Attempt]
    latency: float
