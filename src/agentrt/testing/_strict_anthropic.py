"""What Anthropic refuses: the anthropic SDK's request types, and the rules those types cannot say.

The messages follow Anthropic's own wording (``messages.1.content.0: ...``).
"""

from __future__ import annotations

from typing import Any

import orjson

from agentrt.testing._reasoning import ReasoningLedger
from agentrt.testing._strict import (
    Invalid,
    allowed_values,
    error_location,
    first_problem,
    strict_schema_gap,
    strict_validator,
)

__all__ = ["check_anthropic_messages"]

# Sampling parameters the API still takes but the current SDK's MessageCreateParams no longer declares:
# checked here by hand, with the API's own ranges.
_SAMPLING_RANGES = {"temperature": (0.0, 1.0), "top_p": (0.0, 1.0), "top_k": (0, None)}
_THINKING_TYPES = ("thinking", "redacted_thinking")


def _streaming() -> Any:
    from anthropic.types.message_create_params import MessageCreateParamsStreaming

    return MessageCreateParamsStreaming


def _plain() -> Any:
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

    return MessageCreateParamsNonStreaming


def _beta_streaming() -> Any:
    from anthropic.types.beta.message_create_params import MessageCreateParamsStreaming

    return MessageCreateParamsStreaming


def _beta_plain() -> Any:
    from anthropic.types.beta.message_create_params import MessageCreateParamsNonStreaming

    return MessageCreateParamsNonStreaming


def check_anthropic_messages(body: dict[str, Any], ledger: ReasoningLedger, *, beta: bool = False) -> Invalid | None:
    """Why Anthropic would refuse this Messages request; None when it would accept it.

    With ``beta`` (an ``anthropic-beta`` header was sent) the beta request type
    applies, which knows the beta features' fields.
    """
    typed = {key: value for key, value in body.items() if key not in _SAMPLING_RANGES}
    problem = _sampling_problem(body) or _type_problem(typed, beta) or _thinking_settings_problem(body)
    if problem is not None:
        return problem
    messages: list[dict[str, Any]] = body["messages"]
    return (
        _tool_pairing_problem(messages)
        or _signature_problem(messages, ledger)
        or _thinking_first_problem(body, messages)
        or _structured_output_problem(body)
    )


def _sampling_problem(body: dict[str, Any]) -> Invalid | None:
    for name, (low, high) in _SAMPLING_RANGES.items():
        if name not in body:
            continue
        value = body[name]
        integral = name == "top_k"
        if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
            kind = "a valid integer" if integral else "a valid number"
            return Invalid(f"{name}: Input should be {kind}")
        if value < low or (high is not None and value > high):
            return Invalid(f"{name}: range: {low:g}..{'' if high is None else f'{high:g}'}")
    return None


def _thinking_settings_problem(body: dict[str, Any]) -> Invalid | None:
    """Extended thinking's own limits: a budget of 1024 or more, under max_tokens, no forced tool, and no
    sampling changes."""
    thinking = body.get("thinking") or {}
    if thinking.get("type") not in ("enabled", "adaptive"):
        return None
    docs = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    if thinking.get("type") == "enabled":
        budget: int = thinking["budget_tokens"]  # the SDK type requires it, checked above
        if budget < 1024:
            return Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if body["max_tokens"] <= budget:
            return Invalid(f"`max_tokens` must be greater than `thinking.budget_tokens`. {docs}")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return Invalid("Thinking may not be enabled when tool_choice forces tool use.")
    if body.get("temperature", 1) != 1:
        return Invalid(f"`temperature` may only be set to 1 when thinking is enabled. {docs}")
    if "top_k" in body:
        return Invalid(f"`top_k` must be unset when thinking is enabled. {docs}")
    if body.get("top_p", 1) < 0.95:
        return Invalid(f"`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. {docs}")
    return None


def _type_problem(body: dict[str, Any], beta: bool) -> Invalid | None:
    if "betas" in body:  # the SDK's own argument: it travels as the anthropic-beta header, never in the body
        return Invalid("betas: Extra inputs are not permitted")
    if beta:
        validator = strict_validator(_beta_streaming if body.get("stream") is True else _beta_plain)
    else:
        validator = strict_validator(_streaming if body.get("stream") is True else _plain)
    errors = validator.errors(body)
    if not errors:
        return None
    error = first_problem(errors)
    where = error_location(error["loc"], brackets=False)
    allowed = allowed_values(errors, error["loc"])
    if error["type"] == "literal_error" and len(allowed) > 1:
        return Invalid(f"{where}: Input tag does not match any of the expected tags: {', '.join(allowed)}")
    return Invalid(f"{where}: {error['msg']}")


def _structured_output_problem(body: dict[str, Any]) -> Invalid | None:
    """Structured outputs (output_config.format, strict tools) take only closed objects."""
    output_format = (body.get("output_config") or {}).get("format") or {}
    if output_format.get("type") == "json_schema":
        problem = _schema_problem(output_format.get("schema"))
        if problem is not None:
            return Invalid(f"output_config.format.schema: {problem}")
    for index, tool in enumerate(body.get("tools") or []):
        if tool.get("strict") is True:
            problem = _schema_problem(tool.get("input_schema"))
            if problem is not None:
                return Invalid(f"tools.{index}.custom.input_schema: {problem}")
    return None


def _schema_problem(schema: Any) -> str | None:
    gap = strict_schema_gap(schema, require_all=False)  # Anthropic allows optional properties
    if gap is None:
        return None
    if gap.additional and gap.value is not None:
        value = orjson.dumps(gap.value).decode()
        return (
            f"For 'object' type, 'additionalProperties: {value}' is not supported. "
            "Please set 'additionalProperties' to false"
        )
    return "For 'object' type, 'additionalProperties' must be explicitly set to false"


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [block for block in content if isinstance(block, dict)] if isinstance(content, list) else []


def _tool_pairing_problem(messages: list[dict[str, Any]]) -> Invalid | None:
    """Each tool_use answered by a tool_result in the very next (user) message, and no tool_result without one."""
    for index, message in enumerate(messages):
        if message.get("role") == "user":
            previous = messages[index - 1] if index > 0 and messages[index - 1].get("role") == "assistant" else {}
            used = {b.get("id") for b in _blocks(previous) if b.get("type") == "tool_use"}
            for position, block in enumerate(_blocks(message)):
                if block.get("type") == "tool_result" and block.get("tool_use_id") not in used:
                    return Invalid(
                        f"messages.{index}.content.{position}: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message."
                    )
            continue
        used_ids = [b.get("id") for b in _blocks(message) if b.get("type") == "tool_use"]
        if not used_ids:
            continue
        following = messages[index + 1] if index + 1 < len(messages) else {}
        answered = {b.get("tool_use_id") for b in _blocks(following) if b.get("type") == "tool_result"}
        missing = [tool_id for tool_id in used_ids if tool_id not in answered]
        if missing:
            return Invalid(
                f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(str(m) for m in missing)}. Each `tool_use` block must have a corresponding "
                "`tool_result` block in the next message."
            )
    return None


def _signature_problem(messages: list[dict[str, Any]], ledger: ReasoningLedger) -> Invalid | None:
    """Thinking blocks must come back exactly as issued: same text, same signature."""
    for index, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        for position, block in enumerate(_blocks(message)):
            if block.get("type") != "thinking":
                continue
            signature, thinking = block.get("signature"), block.get("thinking")
            if not (isinstance(signature, str) and isinstance(thinking, str) and ledger.matches(signature, thinking)):
                return Invalid(f"messages.{index}.content.{position}: Invalid `signature` in `thinking` block")
    return None


def _thinking_first_problem(body: dict[str, Any], messages: list[dict[str, Any]]) -> Invalid | None:
    """With thinking on, the assistant turn of an ongoing tool loop must start with its thinking block."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") == "disabled":
        return None
    last = messages[-1] if messages else {}
    if last.get("role") != "user" or not any(b.get("type") == "tool_result" for b in _blocks(last)):
        return None
    index = len(messages) - 2
    blocks = _blocks(messages[index]) if index >= 0 else []
    first = blocks[0].get("type") if blocks else None
    if first in _THINKING_TYPES:
        return None
    return Invalid(
        f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
        "When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding "
        "the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks "
        "from previous turns. To avoid this requirement, disable `thinking`."
    )
