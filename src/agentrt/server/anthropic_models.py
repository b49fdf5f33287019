"""Anthropic's Messages wire format as pydantic models: what ``POST /v1/messages`` takes and answers.

As with the OpenAI models (:mod:`agentrt.server.openai_models`), requests are
validated with these models in one pass over the raw body, and responses are
built as plain dicts on the hot path; the response models describe them for
the OpenAPI document and the tests validate real answers against them.

Unknown top-level fields are allowed (Anthropic adds parameters often): they
reach an Anthropic model as they are, and are left out, with a warning, for a
model of another kind. Unknown fields inside blocks are ignored
(``cache_control``, ``citations``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentrt.server.openai_models import by_kind, tag, tagged

__all__ = [
    "AnthropicError",
    "AnthropicMessage",
    "AnthropicStreamEvent",
    "ContentBlock",
    "CountTokensRequest",
    "ImageBlock",
    "InputMessage",
    "MessagesRequest",
    "RedactedThinkingBlock",
    "TextBlock",
    "ThinkingBlock",
    "TokenCount",
    "ToolDefinition",
    "ToolResultBlock",
    "ToolUseBlock",
]


class _Part(BaseModel):
    # strict: a "10" where a number goes is refused, as Anthropic refuses it.
    model_config = ConfigDict(extra="ignore", strict=True)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


# --- content blocks --------------------------------------------------------------------------


class TextBlock(_Part):
    type: Literal["text"]
    text: str


class Base64Source(_Part):
    type: Literal["base64"]
    media_type: str = Field(min_length=1, examples=["image/png"])
    data: str = Field(min_length=1, description="The image's bytes in base64.")


class UrlSource(_Part):
    type: Literal["url"]
    url: str = Field(min_length=1)


ImageSource = Annotated[
    Annotated[Base64Source, tag("base64")] | Annotated[UrlSource, tag("url")],
    tagged("type", ("base64", "url"), "an image source"),
]


class ImageBlock(_Part):
    type: Literal["image"]
    source: ImageSource


class ToolUseBlock(_Part):
    """A tool call the assistant made earlier in the conversation."""

    type: Literal["tool_use"]
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    input: dict[str, Any]


ToolResultPart = Annotated[
    Annotated[TextBlock, tag("text")] | Annotated[ImageBlock, tag("image")],
    tagged("type", ("text", "image"), "a tool_result content block"),
]


class ToolResultBlock(_Part):
    """The result of the tool call ``tool_use_id``, in a user message."""

    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1)
    content: (
        Annotated[
            Annotated[str, tag("string")] | Annotated[list[ToolResultPart], tag("blocks")],
            by_kind({"string": _is_str, "blocks": _is_list}, "content must be a string or a list of blocks"),
        ]
        | None
    ) = None
    is_error: bool | None = None


class ThinkingBlock(_Part):
    """Extended thinking the assistant did earlier; it must come back unchanged, signature and all."""

    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingBlock(_Part):
    type: Literal["redacted_thinking"]
    data: str


_BLOCK_TYPES = ("text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking")
ContentBlock = Annotated[
    Annotated[TextBlock, tag("text")]
    | Annotated[ImageBlock, tag("image")]
    | Annotated[ToolUseBlock, tag("tool_use")]
    | Annotated[ToolResultBlock, tag("tool_result")]
    | Annotated[ThinkingBlock, tag("thinking")]
    | Annotated[RedactedThinkingBlock, tag("redacted_thinking")],
    tagged("type", _BLOCK_TYPES, "a content block"),
]


class InputMessage(_Part):
    """A turn. ``system`` turns (instructions given mid-conversation, as Claude Code sends them) take text."""

    role: Literal["user", "assistant", "system"]
    content: Annotated[
        Annotated[str, tag("string")] | Annotated[list[ContentBlock], tag("blocks")],
        by_kind({"string": _is_str, "blocks": _is_list}, "content must be a string or a list of content blocks"),
    ]


# --- tools and choices ---------------------------------------------------------------------------


class ToolDefinition(_Part):
    """A client tool the model may call (Anthropic's server tools are not served here)."""

    type: Literal["custom"] | None = None
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    input_schema: dict[str, Any] = Field(description="A JSON Schema of the tool's input.")
    strict: bool | None = None


class _Choice(_Part):
    disable_parallel_tool_use: bool | None = None


class AutoChoice(_Choice):
    type: Literal["auto"]


class AnyChoice(_Choice):
    type: Literal["any"]


class ToolChoiceNamed(_Choice):
    type: Literal["tool"]
    name: str = Field(min_length=1)


class NoneChoice(_Part):
    type: Literal["none"]


ToolChoice = Annotated[
    Annotated[AutoChoice, tag("auto")]
    | Annotated[AnyChoice, tag("any")]
    | Annotated[ToolChoiceNamed, tag("tool")]
    | Annotated[NoneChoice, tag("none")],
    tagged("type", ("auto", "any", "tool", "none"), "tool_choice"),
]


class Metadata(_Part):
    user_id: str | None = Field(
        default=None,
        description="Passed to an Anthropic model as given; whom a request is for is the API key's principal.",
    )


SystemPrompt = Annotated[
    Annotated[str, tag("string")] | Annotated[list[Annotated[TextBlock, tag("text")]], tag("blocks")],
    by_kind({"string": _is_str, "blocks": _is_list}, "system must be a string or a list of text blocks"),
]


# --- requests ------------------------------------------------------------------------------------


class MessagesRequest(BaseModel):
    """``POST /v1/messages``. Fields not listed here reach an Anthropic model as they are."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1, description="A model name or alias of the server's catalog, of any provider.")
    messages: list[InputMessage] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: SystemPrompt | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: ToolChoice | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    thinking: dict[str, Any] | None = Field(
        default=None, description="Extended thinking; for Anthropic models only (left out for others)."
    )
    metadata: Metadata | None = None
    stream: bool = False


class CountTokensRequest(BaseModel):
    """``POST /v1/messages/count_tokens``: the input of a messages request, counted without a call."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1)
    messages: list[InputMessage] = Field(min_length=1)
    system: SystemPrompt | None = None
    tools: list[ToolDefinition] | None = None


# --- responses -----------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextOut(_Out):
    type: Literal["text"]
    text: str


class ToolUseOut(_Out):
    type: Literal["tool_use"]
    id: str = Field(description="The provider's id; with provider data (Gemini's thoughtSignature) appended.")
    name: str
    input: dict[str, Any]


class ThinkingOut(_Out):
    type: Literal["thinking"]
    thinking: str
    signature: str


class RedactedThinkingOut(_Out):
    type: Literal["redacted_thinking"]
    data: str


class UsageOut(_Out):
    input_tokens: int = Field(description="Input tokens not read from the prompt cache.")
    output_tokens: int
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]


class AnthropicMessage(_Out):
    """The answer to a messages request without ``stream``."""

    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    content: list[TextOut | ToolUseOut | ThinkingOut | RedactedThinkingOut]
    model: str = Field(description="The configured model that answered (after fallbacks).")
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: UsageOut


class AnthropicStreamEvent(BaseModel):
    """One server-sent event of a streamed message: ``event: <type>`` and ``data: {"type": <type>, ...}``.

    In order: ``message_start``, ``ping``, per content block ``content_block_start``,
    ``content_block_delta`` (``text_delta``, ``input_json_delta``, ``thinking_delta``,
    ``signature_delta``) and ``content_block_stop``, then ``message_delta`` (stop reason and
    usage) and ``message_stop``; an error after the start is an ``error`` event.
    """

    model_config = ConfigDict(extra="allow")

    type: Literal[
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "error",
    ]


class TokenCount(_Out):
    input_tokens: int = Field(description="An estimate, generous rather than short, made without calling the model.")


class AnthropicErrorDetail(_Out):
    type: str = Field(examples=["invalid_request_error", "authentication_error", "rate_limit_error"])
    message: str


class AnthropicError(_Out):
    """Every error of the Anthropic-compatible routes, in Anthropic's shape."""

    type: Literal["error"]
    error: AnthropicErrorDetail
    request_id: str | None = Field(default=None, description="The request's id (also its `x-request-id`).")
