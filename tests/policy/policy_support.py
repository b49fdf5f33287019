"""Helpers for the policy tests (a plain module: the test folders are not packages)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agentrt.calls import Admission
from agentrt.calls.principal import Principal
from agentrt.config import PoliciesSection
from agentrt.models import ModelSpec, Price
from agentrt.policy import PolicyEngine

MakeEngine = Callable[..., Awaitable[PolicyEngine]]
"""The ``make_engine`` fixture: ``await make_engine(section, **engine_kwargs)``."""

PRICED = ModelSpec("gpt-4o-mini", "openai", "gpt-4o-mini", frozenset({"chat", "tools"}), pricing=Price(1.0, 2.0))
"""A model at $1 per million input tokens and $2 per million output tokens."""
OTHER = ModelSpec("claude-haiku", "anthropic", "claude-haiku-4-5", frozenset({"chat", "vision"}), pricing=Price(3, 4))
UNPRICED = ModelSpec("mystery", "local", "mystery", frozenset({"chat"}))

ALICE = Principal("alice", "acme")
BOB = Principal("bob", "acme")
CAROL = Principal("carol", "globex")


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:  # 2025-06-15T15:06:40Z, a Sunday
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def policies(**values: Any) -> PoliciesSection:
    """A ``policies`` section counting in memory unless it says otherwise."""
    values.setdefault("backend", "memory")
    return PoliciesSection.model_validate(values)


def ask(
    principal: Principal = ALICE,
    model: ModelSpec = PRICED,
    input_tokens: int = 100,
    max_output_tokens: int = 100,
    operation: Any = "generate",
    output_limited: bool = False,
) -> Admission:
    return Admission(principal, operation, model, input_tokens, max_output_tokens, output_limited)
