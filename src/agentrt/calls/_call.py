"""The settings of one call, shared by every step of its tool loop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentrt.calls.policy_hook import Operation
from agentrt.calls.principal import Principal
from agentrt.types import ResponseFormat, ToolSpec

__all__ = ["_Call"]


@dataclass(slots=True)
class _Call:
    """The settings of one call, shared by every step of its tool loop."""

    principal: Principal
    operation: Operation
    fallbacks: Sequence[str] | None
    timeout: float | None
    tool_specs: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
