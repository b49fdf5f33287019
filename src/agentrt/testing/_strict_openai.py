"""What OpenAI refuses: the openai SDK's request types, and the rules those types cannot say.

The messages follow OpenAI's own wording, so that a test (or a user reading a
log) sees what the real API would have said.
"""

from __future__ import annotations

from typing import Any

from agentrt.testing._strict import (
    Invalid,
    allowed_values,
    error_location,
    first_problem,
    strict_schema_gap,
    strict_validator,
)

__all__ = ["check_openai_chat", "check_openai_embeddings"]


def _chat_streaming() -> Any:
    from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming

    return CompletionCreateParamsStreaming


def _chat_plain() -> Any:
    from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

    return CompletionCreateParamsNonStreaming


def _embeddings() -> Any:
    from openai.types.embedding_create_params import EmbeddingCreateParams

    return EmbeddingCreateParams


def check_openai_chat(body: dict[str, Any]) -> Invalid | None:
    """Why OpenAI would refuse this chat completion request; None when it would accept it."""
    streaming = body.get("stream") is True
    problem = _type_problem(body, strict_validator(_chat_streaming if streaming else _chat_plain))
    if problem is not None:
        return problem
    if "max_tokens" in body and "max_completion_tokens" in body:
        return Invalid(
            "Invalid request: 'max_tokens' and 'max_completion_tokens' cannot both be set. "
            "Use 'max_completion_tokens' (max_tokens is deprecated).",
            "max_tokens",
        )
    if body.get("stream_options") is not None and not streaming:
        return Invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
    return _tool_pairing_problem(body["messages"]) or _strict_schemas_problem(body)


def check_openai_embeddings(body: dict[str, Any]) -> Invalid | None:
    """Why OpenAI would refuse this embeddings request; None when it would accept it."""
    return _type_problem(body, strict_validator(_embeddings))


def _type_problem(body: dict[str, Any], validator: Any) -> Invalid | None:
    errors = validator.errors(body)
    if not errors:
        return None
    error = first_problem(errors)
    loc = error["loc"]
    param = error_location(loc)
    if error["type"] == "extra_forbidden":
        if len(loc) == 1:
            return Invalid(f"Unrecognized request argument supplied: {loc[0]}", None)
        return Invalid(f"Invalid parameter: '{param}': unknown parameter.", param)
    if error["type"] == "missing":
        return Invalid(f"Missing required parameter: '{param}'.", param)
    allowed = allowed_values(errors, loc)
    if error["type"] == "literal_error" and allowed:
        value = _value_at(body, loc)
        listed = ", ".join(f"'{v}'" for v in allowed)
        return Invalid(f"Invalid value: '{value}'. Supported values are: {listed}.", param)
    return Invalid(f"Invalid type for '{param}': {error['msg']}.", param)


def _value_at(body: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        try:
            body = body[part]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def _tool_pairing_problem(messages: list[dict[str, Any]]) -> Invalid | None:
    """Every assistant tool call answered by exactly one tool message right after it, and no stray tool message."""
    pending: list[str] = []  # the tool_call_ids of the last assistant message not yet answered
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            tool_call_id = message.get("tool_call_id")
            if tool_call_id not in pending:
                return Invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    f"with 'tool_calls' (no unanswered tool call has the id {tool_call_id!r}).",
                    f"messages.[{index}].role",
                )
            pending.remove(tool_call_id)
            continue
        if pending:
            return _unanswered(pending, index)
        if role == "assistant":
            pending = [call.get("id") for call in message.get("tool_calls") or []]
    return _unanswered(pending, len(messages)) if pending else None


def _unanswered(pending: list[str], index: int) -> Invalid:
    return Invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
        f"messages.[{index}].role",
    )


def _strict_schemas_problem(body: dict[str, Any]) -> Invalid | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        json_schema = response_format.get("json_schema") or {}
        if json_schema.get("strict") is True:
            problem = _schema_problem(json_schema.get("schema") or {})
            if problem is not None:
                name = json_schema.get("name")
                return Invalid(f"Invalid schema for response_format '{name}': {problem}", "response_format")
    for index, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if tool.get("type") == "function" else None
        if function and function.get("strict") is True:
            problem = _schema_problem(function.get("parameters") or {})
            if problem is not None:
                name = function.get("name")
                return Invalid(
                    f"Invalid schema for function '{name}': {problem}", f"tools[{index}].function.parameters"
                )
    return None


def _schema_problem(schema: dict[str, Any]) -> str | None:
    gap = strict_schema_gap(schema)
    if gap is None:
        return None
    where = f"In context={gap.context!r}, "
    if gap.additional:
        return where + "'additionalProperties' is required to be supplied and to be false."
    return (
        where + "'required' is required to be supplied and to be an array including every key in properties. "
        f"Missing '{gap.value}'."
    )
