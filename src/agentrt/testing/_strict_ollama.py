"""What Ollama refuses: the request fields of its API documentation (docs/api.md), nothing else.

No official SDK type exists to validate against (the ``ollama`` Python package
is not a dependency), so the documented ``/api/chat`` and ``/api/embed``
request bodies are written here as pydantic models with unknown fields
refused. The real server ignores unknown fields; refusing them here catches a
client that sends what Ollama would silently drop (e.g. OpenAI's
``max_tokens``, which Ollama knows as ``options.num_predict``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from agentrt.testing._strict import Invalid, error_location

__all__ = ["check_ollama_chat", "check_ollama_embed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Function(_Strict):
    name: str
    arguments: dict[str, Any]
    index: int | None = None
    description: str | None = None


class _ToolCall(_Strict):
    function: _Function
    id: str | None = None
    type: Literal["function"] | None = None


class _Message(_Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    images: list[str] | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    thinking: str | None = None


class _ToolFunction(_Strict):
    name: str
    description: str | None = None
    parameters: dict[str, Any]


class _Tool(_Strict):
    type: Literal["function"]
    function: _ToolFunction


class _Options(_Strict):
    """The model options of the Modelfile's PARAMETER list that a request may set."""

    num_keep: int | None = None
    seed: int | None = None
    num_predict: int | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repeat_last_n: int | None = None
    temperature: float | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] | None = None
    num_ctx: int | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    main_gpu: int | None = None
    use_mmap: bool | None = None
    num_thread: int | None = None


class _Chat(_Strict):
    model: str
    messages: list[_Message] = []
    tools: list[_Tool] | None = None
    format: Literal["json"] | dict[str, Any] | None = None
    options: _Options | None = None
    stream: bool | None = None
    keep_alive: str | int | None = None
    think: bool | Literal["low", "medium", "high"] | None = None


class _Embed(_Strict):
    model: str
    input: str | list[str]
    truncate: bool | None = None
    options: _Options | None = None
    keep_alive: str | int | None = None
    dimensions: int | None = None


def _problem(kind: type[_Strict], body: dict[str, Any]) -> Invalid | None:
    try:
        kind.model_validate(body)
    except ValidationError as err:
        error = err.errors(include_url=False)[0]
        where = error_location([p for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper())])
        if error["type"] == "extra_forbidden":
            return Invalid(f'json: unknown field "{where}"', where)
        return Invalid(f"invalid {where}: {error['msg']}", where)
    return None


def check_ollama_chat(body: dict[str, Any]) -> Invalid | None:
    """Why this /api/chat body is not one Ollama's documentation describes; None when it is."""
    problem = _problem(_Chat, body)
    if problem is not None:
        return problem
    for index, message in enumerate(body.get("messages") or []):
        for image in message.get("images") or []:
            if image.startswith(("data:", "http://", "https://")):
                return Invalid(
                    f"messages[{index}].images: images are base64 data without a data: prefix, never URLs",
                    f"messages[{index}].images",
                )
    return None


def check_ollama_embed(body: dict[str, Any]) -> Invalid | None:
    """Why this /api/embed body is not one Ollama's documentation describes; None when it is."""
    return _problem(_Embed, body)
