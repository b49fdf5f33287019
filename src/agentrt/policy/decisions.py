"""Policy decisions: what the engine hands to ``on_decision`` (the audit trail) and counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PolicyDecision"]


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """One admit decision, shaped like the store's ``AuditRecord`` so the trail can take it field by field.

    ``request_id`` is the reservation id of an allowed call (unique across
    processes) and a fresh id of the same form for a denied one. ``rule`` is the
    rule that decided (``None``: ``policies.default``; ``policies.max_input_tokens``
    or ``policies.max_output_tokens`` for a cap); ``limit`` names the limit or
    budget that denied the call, if one did; ``reason`` says why in words.
    """

    ts: float
    request_id: str
    user: str | None
    tenant: str | None
    api_key: str | None
    model: str
    operation: str
    decision: Literal["allow", "deny"]
    rule: str | None = None
    reason: str | None = None
    limit: str | None = None
