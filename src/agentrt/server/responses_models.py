"""OpenAI's Responses API as pydantic models: what ``POST /v1/responses`` takes and answers.

Requests are validated in one pass over the raw body; unknown top-level
fields are allowed and passed to the model as parameters, as on the chat
route. Inside items unknown fields are ignored, so a client may send back the
output items it received (ids, statuses, annotations and all).

Responses are built as plain dicts; these models describe them for the
OpenAPI document, and the tests validate real answers against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field

from agentrt.server.openai_models import INVALID_TAG, TAG_PREFIX, by_kind, tag, tagged

__all__ = [
    "DeletedResponse",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "FunctionToolDef",
    "InputImage",
    "InputText",
    "MessageItem",
    "OutputText",
    "ReasoningItem",
    "Refusal",
    "ResponseObject",
    "ResponseStreamEvent",
    "ResponsesRequest",
]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


# --- input items ---------------------------------------------------------------------------------


class InputText(_Part):
    type: Literal["input_text"]
    text: str


class InputImage(_Part):
    type: Literal["input_image"]
    image_url: str | None = Field(default=None, description="An http(s) URL or a data: URL with base64 bytes.")
    file_id: str | None = Field(default=None, description="Not served: send the image as image_url.")
    detail: Literal["auto", "low", "high"] | None = None


class OutputText(_Part):
    type: Literal["output_text"]
    text: str


class Refusal(_Part):
    type: Literal["refusal"]
    refusal: str


_PARTS = ("input_text", "input_image", "output_text", "refusal")
ContentPart = Annotated[
    Annotated[InputText, tag("input_text")]
    | Annotated[InputImage, tag("input_image")]
    | Annotated[OutputText, tag("output_text")]
    | Annotated[Refusal, tag("refusal")],
    tagged("type", _PARTS, "a content part"),
]
Content = Annotated[
    Annotated[str, tag("string")] | Annotated[list[ContentPart], tag("parts")],
    by_kind({"string": _is_str, "parts": _is_list}, "content must be a string or a list of content parts"),
]


class MessageItem(_Part):
    """A message; ``type`` may be left out, as the API allows."""

    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: Content


class FunctionCallItem(_Part):
    """A function call the model made earlier (an output item sent back)."""

    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    arguments: str = Field(description="The arguments as a JSON object, in text.")


class FunctionCallOutputItem(_Part):
    """The result of the function call ``call_id``."""

    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: Content


class ReasoningItem(_Part):
    """A reasoning item sent back: accepted and left out (agentrt does not produce them)."""

    type: Literal["reasoning"]


_ITEMS = ("message", "function_call", "function_call_output", "reasoning")


def _item_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if kind is None and isinstance(value, dict) and "role" in value:
        kind = "message"  # an "easy" input message: role and content only
    return TAG_PREFIX + kind if isinstance(kind, str) and kind in _ITEMS else None


InputItem = Annotated[
    Annotated[MessageItem, tag("message")]
    | Annotated[FunctionCallItem, tag("function_call")]
    | Annotated[FunctionCallOutputItem, tag("function_call_output")]
    | Annotated[ReasoningItem, tag("reasoning")],
    Discriminator(
        _item_tag,
        custom_error_type=INVALID_TAG + "type",
        custom_error_message=f"an input item needs type set to one of: {', '.join(_ITEMS)} (or a role, for a message)",
    ),
]


# --- tools and formats ---------------------------------------------------------------------------


class FunctionToolDef(_Part):
    """A function the model may call; the calls come back to the client to run."""

    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = Field(
        default=None, description="Sent to the model when given; left out otherwise (no strict schema is assumed)."
    )


ToolDef = Annotated[Annotated[FunctionToolDef, tag("function")], tagged("type", ("function",), "a tool")]


class NamedFunction(_Part):
    type: Literal["function"]
    name: str = Field(min_length=1)


ToolChoice = Annotated[
    Annotated[Literal["none", "auto", "required"], tag("mode")] | Annotated[NamedFunction, tag("named")],
    by_kind(
        {"mode": _is_str, "named": lambda v: isinstance(v, dict | NamedFunction)},
        "tool_choice must be none, auto, required, or {type: function, name}",
    ),
]


class TextFormatText(_Part):
    type: Literal["text"]


class TextFormatJsonObject(_Part):
    type: Literal["json_object"]


class TextFormatJsonSchema(_Part):
    type: Literal["json_schema"]
    name: str = Field(default="output", min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = Annotated[
    Annotated[TextFormatText, tag("text")]
    | Annotated[TextFormatJsonObject, tag("json_object")]
    | Annotated[TextFormatJsonSchema, tag("json_schema")],
    tagged("type", ("text", "json_object", "json_schema"), "text.format"),
]


class TextConfig(_Part):
    format: TextFormat | None = None


class ReasoningConfig(_Part):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


# --- the request ---------------------------------------------------------------------------------


class ResponsesRequest(BaseModel):
    """``POST /v1/responses``. Fields not listed here go to the model as parameters."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1, description="A model name or alias of the server's catalog, of any provider.")
    input: Annotated[
        Annotated[str, tag("string")] | Annotated[list[InputItem], tag("items")],
        by_kind({"string": _is_str, "items": _is_list}, "input must be a string or a list of input items"),
    ]
    instructions: str | None = None
    tools: list[ToolDef] | None = None
    tool_choice: ToolChoice | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = Field(
        default=None, min_length=1, description="Continue a stored response of the same tenant (or user, or key)."
    )
    store: bool = Field(default=True, description="Keep the response for `previous_response_id` and GET.")
    stream: bool = False
    reasoning: ReasoningConfig | None = None
    metadata: dict[str, str] | None = Field(default=None, description="Kept with the response; not sent to the model.")
    user: str | None = Field(default=None, description="Ignored: the API key says whom a request is for.")
    background: bool | None = Field(default=None, description="Only false: responses are not run in the background.")
    truncation: Literal["disabled", "auto"] | None = None
    include: list[str] | None = Field(default=None, description="Accepted; nothing extra is included.")


# --- the response --------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OutputTextOut(_Out):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]
    logprobs: list[Any] | None = None


class RefusalOut(_Out):
    type: Literal["refusal"]
    refusal: str


class MessageOut(_Out):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    status: Literal["in_progress", "completed", "incomplete"]
    content: list[OutputTextOut | RefusalOut]


class FunctionCallOut(_Out):
    id: str
    type: Literal["function_call"]
    call_id: str = Field(description="The provider's id; with provider data appended (see the chat route).")
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"]


class InputTokensDetails(_Out):
    cached_tokens: int
    cache_write_tokens: int = Field(description="Always 0: agentrt counts prompt-cache writes as input.")


class OutputTokensDetails(_Out):
    reasoning_tokens: int


class ResponseUsage(_Out):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ResponseError(_Out):
    code: str
    message: str


class IncompleteDetails(_Out):
    reason: Literal["max_output_tokens", "content_filter"]


class ResponseObject(_Out):
    """A response: the answer of ``POST /v1/responses`` and ``GET /v1/responses/{id}``."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["completed", "incomplete", "in_progress", "failed"]
    error: ResponseError | None
    incomplete_details: IncompleteDetails | None
    instructions: str | None
    max_output_tokens: int | None
    model: str = Field(description="The configured model that answered (after fallbacks).")
    output: list[MessageOut | FunctionCallOut]
    parallel_tool_calls: bool
    previous_response_id: str | None
    store: bool
    temperature: float | None
    text: dict[str, Any]
    tool_choice: str | dict[str, Any]
    tools: list[dict[str, Any]]
    top_p: float | None
    truncation: str
    usage: ResponseUsage | None
    user: str | None
    metadata: dict[str, str]


class ResponseStreamEvent(BaseModel):
    """One server-sent event of a streamed response (``event: <type>``, ``data: {"type": <type>, ...}``).

    ``response.created``, ``response.in_progress``, per output item ``response.output_item.added``,
    its content (``response.content_part.added``, ``response.output_text.delta``/``.done``,
    ``response.content_part.done``; or ``response.function_call_arguments.delta``/``.done``) and
    ``response.output_item.done``; then ``response.completed`` (``response.incomplete`` when cut at
    the output limit), or ``response.failed`` after an error. Each has a ``sequence_number``.
    """

    model_config = ConfigDict(extra="allow")

    type: str
    sequence_number: int


class DeletedResponse(_Out):
    id: str
    object: Literal["response"]
    deleted: Literal[True]
