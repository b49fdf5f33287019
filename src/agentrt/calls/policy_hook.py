"""The seam between the call pipeline and the policy: ``admit`` before a call, ``settle`` after.

The pipeline calls ``admit`` before any network call, with the worst case the
call can cost; the policy refuses (raising a ``PolicyError``) or returns a
reservation. After the call, ``settle`` replaces the reservation with the
actual usage; a failed call ``release``\\ s it. :class:`AllowAll` admits
everything; the policy service replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

from agentrt.calls.principal import Principal
from agentrt.models import ModelSpec
from agentrt.types import Usage

__all__ = ["Admission", "AllowAll", "Operation", "PolicyHook"]

Operation: TypeAlias = Literal["generate", "stream", "embed", "object"]


@dataclass(slots=True, frozen=True)
class Admission:
    """What the policy is asked to admit: who, what, on which model, and the worst case in tokens."""

    principal: Principal
    operation: Operation
    model: ModelSpec
    input_tokens: int  # an upper bound (one token per byte); the provider's count replaces it at settle
    max_output_tokens: int  # the most the call may produce: what a budget must reserve
    output_limited: bool = False  # the caller set max_output_tokens (else it is the model's or a default)
    request_id: str | None = None  # the call's request id: the audit row carries it, to join the ledger row


@runtime_checkable
class PolicyHook(Protocol):
    async def admit(self, admission: Admission) -> object | None:
        """Refuse (raise a ``PolicyError``) or return a reservation handed back to settle/release.

        A reservation with an ``output_cap`` attribute that is not None holds
        exactly that many output tokens: the pipeline then sends it to the
        provider as the call's maximum output, so actual usage can never exceed
        what was reserved.
        """
        ...

    async def settle(self, reservation: object | None, usage: Usage, cost: float | None) -> None:
        """The call succeeded: replace the reservation with what it really used."""
        ...

    async def release(self, reservation: object | None) -> None:
        """The call failed or was abandoned: give the reservation back."""
        ...


class AllowAll:
    """A policy that admits every call and keeps no account (no ``policies`` enforcement)."""

    async def admit(self, admission: Admission) -> object | None:
        return None

    async def settle(self, reservation: object | None, usage: Usage, cost: float | None) -> None:
        return None

    async def release(self, reservation: object | None) -> None:
        return None
