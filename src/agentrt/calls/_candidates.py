"""The candidates of one call (the model, then its fallbacks), each admitted by the policy on its own terms.

Every candidate is asked of the policy before it is tried, as itself: its own
rules, its model-scoped limits, its own price. A candidate the policy refuses
is skipped (the plan lists the refusal in the attempts); a candidate that
failed gives its reservation back before the next is tried; only the one that
served is settled, by the pipeline. A call with no fallback is admitted before
the plan, as a single candidate, and pays for nothing more.

A candidate that is a deployment with ``rpm``/``tpm`` first holds a request on
its deployment's window (:class:`~agentrt.routing.DeploymentLimits`); a busy
deployment raises :class:`~agentrt.routing.DeploymentBusy` and is skipped
before the policy is asked, so a skip costs the caller nothing. A policy
refusal after that hold cancels it (the request never went: the deployment
counts it no more).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentrt.calls._call import _Call
from agentrt.calls.policy_hook import Admission, PolicyHook
from agentrt.models import ModelSpec, json_token_bound
from agentrt.types import ChatRequest, Message

if TYPE_CHECKING:
    from agentrt.policy.reservation import Reservation
    from agentrt.routing import DeploymentLimits
    from agentrt.types import Usage

__all__ = ["DEFAULT_MAX_OUTPUT_RESERVATION", "CallHolds", "build_request", "output_reservation"]

# What a budget reserves for the output of a call that names no limit on a model that
# declares none: the pessimistic size of one long answer.
DEFAULT_MAX_OUTPUT_RESERVATION = 4096


class CallHolds:
    """Per candidate of one call: its request (output cap included once admitted) and its reservation."""

    __slots__ = (
        "_call",
        "_input_bound",
        "_limits",
        "_messages",
        "_policy",
        "_requests",
        "count",
        "deployment_holds",
        "reservations",
        "specs",
    )

    def __init__(
        self,
        policy: PolicyHook,
        specs: Sequence[ModelSpec],
        messages: list[Message],
        call: _Call,
        input_bound: int,
        limits: DeploymentLimits | None = None,
    ) -> None:
        self._policy = policy
        self._call = call
        self._input_bound = input_bound
        self._messages = messages
        self._limits = limits
        self.specs = specs  # may be drawn as it is read (a shuffle of deployments): index it, do not copy it
        self.count = count = len(specs)
        # Built when first needed: a model with 8 deployments usually tries one.
        self._requests: list[ChatRequest | None] = [None] * count
        self.reservations: list[object | None] = [None] * count
        self.deployment_holds: list[Reservation | None] = [None] * count

    def request(self, index: int) -> ChatRequest:
        """The request of candidate ``index`` (its output cap set once it is admitted)."""
        request = self._requests[index]
        if request is None:
            request = self._requests[index] = build_request(self.specs[index], self._messages, self._call)
        return request

    async def admit(self, index: int) -> None:
        """Ask the policy for candidate ``index`` (raises its ``PolicyError``); the request gets its cap.

        The cap sent is the smaller of the request's own limit and the output the policy held
        (a ``clip_output`` budget may hold less than the caller asked for).
        """
        spec, request, call = self.specs[index], self.request(index), self._call
        input_bound, output = self.input_bound(index), output_reservation(spec, call)
        deployment = spec.deployment
        if deployment is not None and deployment.limited and self._limits is not None:
            self.deployment_holds[index] = await self._limits.hold(
                spec, input_bound + output, call.request_id, call.operation
            )
        try:
            reservation = await self._policy.admit(
                Admission(
                    call.principal,
                    call.operation,
                    spec,
                    input_bound,
                    output,
                    call.max_output_tokens is not None,
                    call.request_id,
                )
            )
        except BaseException:
            hold, self.deployment_holds[index] = self.deployment_holds[index], None
            if hold is not None and self._limits is not None:
                await self._limits.cancel(hold)  # the call never went there: it takes none of its rpm
            raise
        self.reservations[index] = reservation
        cap = getattr(reservation, "output_cap", None)
        if cap is not None and (request.max_output_tokens is None or cap < request.max_output_tokens):
            # What the budget holds, clipped or not, whatever limit the caller named: the provider is
            # told the smaller of the two, so usage can never outgrow the hold.
            request.max_output_tokens = cap

    def input_bound(self, index: int) -> int:
        """The upper bound of candidate ``index``'s input tokens: everything its request sends."""
        return self._input_bound + json_token_bound(self.request(index).params)

    async def release(self, index: int) -> None:
        """Give candidate ``index``'s reservation back (it failed); a second call does nothing."""
        reservation, self.reservations[index] = self.reservations[index], None
        try:
            if reservation is not None:
                await self._policy.release(reservation)
        finally:
            await self._release_deployment(index)

    async def release_all(self) -> None:
        """The call failed or was abandoned before any settle: give back whatever is still held."""
        for index, reservation in enumerate(self.reservations):
            if reservation is not None or self.deployment_holds[index] is not None:
                await self.release(index)

    async def settle(self, index: int, usage: Usage, cost: float | None) -> None:
        """Candidate ``index`` served the call: its reservation becomes ``usage`` and ``cost``."""
        reservation, self.reservations[index] = self.reservations[index], None
        hold, self.deployment_holds[index] = self.deployment_holds[index], None
        try:
            await self._policy.settle(reservation, usage, cost)
        finally:
            if hold is not None and self._limits is not None:
                await self._limits.settle(hold, usage.input_tokens + usage.output_tokens)

    async def _release_deployment(self, index: int) -> None:
        hold, self.deployment_holds[index] = self.deployment_holds[index], None
        if hold is not None and self._limits is not None:
            await self._limits.release(hold)


def build_request(spec: ModelSpec, messages: list[Message], call: _Call) -> ChatRequest:
    """The request for candidate ``spec``; its output cap is the caller's (the policy's is set at admission)."""
    # A fresh dict per request: the same call builds one request per candidate and step.
    params: dict[str, Any] = {**spec.params, **call.params} if (spec.params or call.params) else {}
    temperature = params.pop("temperature", None)
    from_params = params.pop("max_output_tokens", None)
    for alias in ("max_tokens", "max_completion_tokens"):  # a model's configured params may use them
        from_params = params.pop(alias, from_params)
    max_output = call.max_output_tokens
    if max_output is None and isinstance(from_params, int) and not isinstance(from_params, bool):
        max_output = from_params
    return ChatRequest(
        spec.provider_model,
        messages,
        call.tool_specs,
        call.tool_choice,
        call.response_format,
        max_output,
        call.temperature if call.temperature is not None else temperature,
        params.pop("top_p", None),
        params.pop("stop", None),
        params,
    )


def output_reservation(spec: ModelSpec, call: _Call) -> int:
    """The most output a call may produce on ``spec``: what a budget must hold for it."""
    if call.max_output_tokens is not None:
        return call.max_output_tokens
    return spec.max_output_tokens or DEFAULT_MAX_OUTPUT_RESERVATION
