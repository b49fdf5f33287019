"""The OpenAI wire format as pydantic models: what requests may contain, what responses contain.

Requests are validated with these models (``model_validate_json`` on the raw
body: one pass, no intermediate dict). Unknown top-level fields are allowed,
as OpenAI adds parameters often: they are passed to the provider as model
parameters. Inside messages and tools unknown fields are ignored.

Responses are built as plain dicts on the hot path (cheaper than model
instances); these response models describe them for the OpenAPI document, and
the tests validate real responses against them so the two cannot drift.

Unions are tagged with :func:`tagged` so a validation error names the path a
user can act on (``messages.0.role``), not pydantic's internal union members.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

__all__ = [
    "INVALID_TAG",
    "TAG_PREFIX",
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionUsage",
    "EmbeddingList",
    "EmbeddingRequest",
    "ErrorResponse",
    "FunctionTool",
    "ImageUrlPart",
    "JsonObjectFormat",
    "JsonSchemaFormat",
    "Model",
    "ModelList",
    "NamedToolChoice",
    "SystemMessage",
    "TextFormat",
    "TextPart",
    "ToolMessage",
    "UserMessage",
    "tag",
]

TAG_PREFIX = "@"
"""Marks union tags in validation-error locations, so error paths can leave them out."""

INVALID_TAG = "invalid_tag:"
"""The error type of a wrong or missing tag field, followed by the field's name (``invalid_tag:role``)."""


def tag(name: str) -> Tag:
    """The tag of one member of a union built with :func:`tagged`."""
    return Tag(TAG_PREFIX + name)


def tagged(field: str, names: tuple[str, ...], what: str) -> Discriminator:
    """A discriminator on ``field`` (``role``, ``type``) whose error names the field and the choices."""
    known = frozenset(names)

    def pick(value: Any) -> str | None:
        key = value.get(field) if isinstance(value, dict) else getattr(value, field, None)
        return TAG_PREFIX + key if isinstance(key, str) and key in known else None

    return Discriminator(
        pick,
        custom_error_type=INVALID_TAG + field,
        custom_error_message=f"{what} needs {field} set to one of: {', '.join(names)}",
    )


def by_kind(kinds: dict[str, Callable[[Any], bool]], message: str) -> Discriminator:
    """A discriminator by Python type (``str`` or list), for OpenAI's "a string or a list" fields."""

    def pick(value: Any) -> str | None:
        for name, test in kinds.items():
            if test(value):
                return TAG_PREFIX + name
        return None

    return Discriminator(pick, custom_error_type="invalid_type", custom_error_message=message)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


class _Part(BaseModel):
    # strict: a "10" where a number goes, or a "yes" for a boolean, is refused (OpenAI refuses them).
    model_config = ConfigDict(extra="ignore", strict=True)


# --- messages ----------------------------------------------------------------------------


class TextPart(_Part):
    """A text part of a message's content."""

    type: Literal["text"]
    text: str


class ImageUrl(_Part):
    url: str = Field(min_length=1, description="An http(s) URL or a data: URL with base64 image bytes.")
    detail: Literal["auto", "low", "high"] | None = None


class ImageUrlPart(_Part):
    """An image part of a user message's content."""

    type: Literal["image_url"]
    image_url: ImageUrl


class RefusalPart(_Part):
    """A refusal an assistant gave earlier in the conversation (kept as text)."""

    type: Literal["refusal"]
    refusal: str


UserPart = Annotated[
    Annotated[TextPart, tag("text")] | Annotated[ImageUrlPart, tag("image_url")],
    tagged("type", ("text", "image_url"), "a content part"),
]
AssistantPart = Annotated[
    Annotated[TextPart, tag("text")] | Annotated[RefusalPart, tag("refusal")],
    tagged("type", ("text", "refusal"), "an assistant content part"),
]
TextOnlyPart = Annotated[
    Annotated[TextPart, tag("text")],
    tagged("type", ("text",), "a content part of this message"),
]

_CONTENT_MESSAGE = "content must be a string or a list of content parts"
UserContent = Annotated[
    Annotated[str, tag("string")] | Annotated[list[UserPart], tag("parts")],
    by_kind({"string": _is_str, "parts": _is_list}, _CONTENT_MESSAGE),
]
TextContent = Annotated[
    Annotated[str, tag("string")] | Annotated[list[TextOnlyPart], tag("parts")],
    by_kind({"string": _is_str, "parts": _is_list}, _CONTENT_MESSAGE),
]
AssistantContent = Annotated[
    Annotated[str, tag("string")] | Annotated[list[AssistantPart], tag("parts")],
    by_kind({"string": _is_str, "parts": _is_list}, _CONTENT_MESSAGE),
]


class SystemMessage(_Part):
    """Instructions for the model (``developer`` is OpenAI's newer name for the same role)."""

    role: Literal["system", "developer"]
    content: TextContent
    name: str | None = None


class UserMessage(_Part):
    role: Literal["user"]
    content: UserContent
    name: str | None = None


class FunctionCall(_Part):
    name: str = Field(min_length=1)
    arguments: str = Field(description="The arguments as a JSON object, in text.")


class ToolCallParam(_Part):
    """A tool call an assistant made earlier in the conversation."""

    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall
    provider_specific_fields: dict[str, Any] | None = Field(
        default=None, description="The provider's data for this call, as the gateway returned it (LiteLLM's field)."
    )


class AssistantMessage(_Part):
    role: Literal["assistant"]
    content: AssistantContent | None = None
    tool_calls: list[ToolCallParam] | None = None
    name: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = Field(
        default=None, description="Anthropic's thinking blocks, as the gateway returned them (LiteLLM's field)."
    )


class ToolMessage(_Part):
    """The result of a tool call, answering the call with id ``tool_call_id``."""

    role: Literal["tool"]
    content: TextContent
    tool_call_id: str = Field(min_length=1)


ChatMessage = Annotated[
    Annotated[SystemMessage, tag("system")]
    | Annotated[SystemMessage, tag("developer")]
    | Annotated[UserMessage, tag("user")]
    | Annotated[AssistantMessage, tag("assistant")]
    | Annotated[ToolMessage, tag("tool")],
    tagged("role", ("system", "developer", "user", "assistant", "tool"), "a message"),
]


# --- tools and formats ---------------------------------------------------------------------


class FunctionDefinition(_Part):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = Field(default=None, description="A JSON Schema of the arguments.")
    strict: bool | None = None


class FunctionTool(_Part):
    """A tool the model may call. The server offers it; the calls come back to the client to run."""

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_Part):
    name: str = Field(min_length=1)


class NamedToolChoice(_Part):
    """Force the model to call this tool."""

    type: Literal["function"]
    function: NamedFunction


ToolChoiceMode = Literal["none", "auto", "required"]


class TextFormat(_Part):
    type: Literal["text"]


class JsonObjectFormat(_Part):
    """Any JSON object (OpenAI wants the word "JSON" in the prompt with this one)."""

    type: Literal["json_object"]


class JsonSchemaSpec(_Part):
    name: str = Field(default="output", min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class JsonSchemaFormat(_Part):
    """JSON that validates against ``json_schema.schema``."""

    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormatParam = Annotated[
    Annotated[TextFormat, tag("text")]
    | Annotated[JsonObjectFormat, tag("json_object")]
    | Annotated[JsonSchemaFormat, tag("json_schema")],
    tagged("type", ("text", "json_object", "json_schema"), "response_format"),
]


class StreamOptions(_Part):
    include_usage: bool = False


# --- requests ------------------------------------------------------------------------------


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``. Fields not listed here go to the provider as model parameters."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1, description="A model name or alias of the server's catalog.", examples=["default"])
    messages: list[ChatMessage] = Field(min_length=1)
    tools: list[FunctionTool] | None = None
    tool_choice: (
        Annotated[
            Annotated[ToolChoiceMode, tag("mode")] | Annotated[NamedToolChoice, tag("named")],
            by_kind(
                {"mode": _is_str, "named": lambda v: isinstance(v, dict | NamedToolChoice)},
                "tool_choice must be none, auto, required, or {type: function, function: {name}}",
            ),
        ]
        | None
    ) = None
    response_format: ResponseFormatParam | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: (
        Annotated[
            Annotated[str, tag("string")] | Annotated[list[str], tag("list")],
            by_kind({"string": _is_str, "list": _is_list}, "stop must be a string or a list of strings"),
        ]
        | None
    ) = None
    n: int | None = Field(default=None, description="Only 1 is supported.")
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, description="Ignored: the API key says whom a request is for.")

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("agentrt answers one choice per request: leave n out or set it to 1")
        return value


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``. Fields not listed here go to the provider as model parameters."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1, examples=["embedder"])
    input: Annotated[
        Annotated[str, tag("string")] | Annotated[list[str], tag("list")],
        by_kind(
            {"string": _is_str, "list": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v)},
            "input must be a string or a list of strings (token arrays are not supported: send the text)",
        ),
    ]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = Field(default=None, description="Ignored: the API key says whom a request is for.")

    @field_validator("input")
    @classmethod
    def _inputs(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not 1 <= len(value) <= 2048:
            raise ValueError("input takes 1 to 2048 texts")
        return value


# --- responses ---------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionCallOut(_Out):
    name: str
    arguments: str


class ToolCallOut(_Out):
    id: str = Field(description="The provider's id; with provider data (Gemini's thoughtSignature, Anthropic's "
    "thinking) appended, so that it comes back with the id.")
    type: Literal["function"]
    function: FunctionCallOut
    provider_specific_fields: dict[str, Any] | None = None


class AssistantMessageOut(_Out):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCallOut] | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class Choice(_Out):
    index: int
    message: AssistantMessageOut
    logprobs: None
    finish_reason: FinishReason


class PromptTokensDetails(_Out):
    cached_tokens: int


class CompletionUsage(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class ChatCompletion(_Out):
    """The answer to a chat completion request without ``stream``."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str = Field(description="The configured model that answered (after fallbacks).")
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: None


class FunctionCallDelta(_Out):
    name: str | None = None
    arguments: str | None = None


class ToolCallDeltaOut(_Out):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta | None = None
    provider_specific_fields: dict[str, Any] | None = None


class Delta(_Out):
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDeltaOut] | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class ChunkChoice(_Out):
    index: int
    delta: Delta
    logprobs: None
    finish_reason: FinishReason | None


class ChatCompletionChunk(_Out):
    """One server-sent event of a streamed chat completion (``data: {...}``; the last is ``data: [DONE]``)."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    system_fingerprint: None
    usage: CompletionUsage | None = None


class EmbeddingItem(_Out):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of little-endian float32 values.")


class EmbeddingUsage(_Out):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(_Out):
    object: Literal["list"]
    data: list[EmbeddingItem]
    model: str
    usage: EmbeddingUsage


class Model(_Out):
    """A model (or an alias of one) the server serves."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str = Field(description="The configured provider that serves it.")


class ModelList(_Out):
    object: Literal["list"]
    data: list[Model]


class ErrorDetail(_Out):
    message: str
    type: str
    param: str | None
    code: str | None
    request_id: str | None = Field(default=None, description="The request's id (also its `x-request-id`).")


class ErrorResponse(_Out):
    """Every error, in OpenAI's shape."""

    error: ErrorDetail
