"""Span attributes of model calls, after the OpenTelemetry GenAI semantic conventions."""

from __future__ import annotations

from typing import Any

from agentrt.calls._call import _Call
from agentrt.models import ModelSpec
from agentrt.types import Completion

__all__ = ["attempt_attributes", "request_attributes", "response_attributes"]


def request_attributes(operation: str, model: str, call: _Call) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation, "gen_ai.request.model": model}
    if call.request_id is not None:
        attributes["agentrt.request_id"] = call.request_id
    if call.max_output_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = call.max_output_tokens
    if call.temperature is not None:
        attributes["gen_ai.request.temperature"] = call.temperature
    if call.principal.user is not None:
        attributes["enduser.id"] = call.principal.user
    return attributes


def response_attributes(completion: Completion) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.response.model": completion.model,
        "gen_ai.provider.name": completion.provider,
        "gen_ai.usage.input_tokens": completion.usage.input_tokens,
        "gen_ai.usage.output_tokens": completion.usage.output_tokens,
        "agentrt.attempts": len(completion.attempts),
    }
    if completion.finish_reason is not None:
        attributes["gen_ai.response.finish_reasons"] = [completion.finish_reason]
    if completion.cost is not None:
        attributes["agentrt.cost_usd"] = completion.cost
    return attributes


def attempt_attributes(spec: ModelSpec) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": spec.provider_model,
        "gen_ai.provider.name": spec.provider,
    }
