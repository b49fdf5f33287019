"""A deployment's rpm and tpm, held exactly on the policy backend's counters, across processes.

Each deployment with ``rpm`` or ``tpm`` has one sliding window on the policy
backend (``memory``, ``sqlite`` or ``redis``), keyed ``deployment:<model>:<label>``.
A call holds a request (and its worst-case tokens) on it with the backend's
atomic check-and-hold, the same primitive that holds the policy's own limits:
no other process can pass between the check and the hold, so a deployment is
never one request over, and a request is refused only when the window is
really full. A deployment that refuses is skipped (:class:`DeploymentBusy`);
the call goes on to the next. The hold is settled with the tokens the call
used, released when the call failed (its request still counts, as it
reached the provider), or cancelled when the policy refused the call after the
hold (the request never went: it counts no more, so a caller over their own
limits cannot use up a deployment's rpm).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentrt.errors import RateLimitExceeded

if TYPE_CHECKING:
    from agentrt.models import ModelSpec
    from agentrt.policy.backends.base import PolicyBackend, Snapshot
    from agentrt.policy.reservation import Reservation

__all__ = ["HOLD_TTL", "DeploymentBusy", "DeploymentLimits"]

HOLD_TTL = 600.0
"""Seconds a hold may stay unsettled (a crashed caller's): windows count a request 60 s anyway."""


class DeploymentBusy(RateLimitExceeded):
    """A deployment is at its rpm or tpm: the call skips it. When every deployment is, the call is refused
    with the soonest ``retry_after``."""

    def __init__(self, message: str, *, deployment: str, retry_after: float | None) -> None:
        super().__init__(message, scope="deployment", limit=deployment, retry_after=retry_after)
        self.deployment = deployment


class DeploymentLimits:
    """Holds on the deployments' windows. ``backend`` is the policy's; None: a private in-memory one."""

    def __init__(self, backend: PolicyBackend | None, *, clock: Callable[[], float] = time.time) -> None:
        self._backend = backend
        self._own = backend is None
        self._opened = False
        self._clock = clock
        self._ids = itertools.count(1)
        self._prefix = "d-" + uuid.uuid4().hex[:12] + "-"
        self.on_busy: Callable[[ModelSpec], object] | None = None
        """Called with the spec of each deployment found at its limit (the per-deployment metrics)."""

    @property
    def backend(self) -> PolicyBackend:
        """The backend counting the deployments' windows (made on first use when the policy has none)."""
        if self._backend is None:
            from agentrt.policy.backends.memory import MemoryBackend

            self._backend = MemoryBackend()
        return self._backend

    async def hold(self, spec: ModelSpec, tokens: int, request_id: str | None, operation: str) -> Reservation:
        """Hold one request of ``tokens`` on ``spec``'s deployment, or raise :class:`DeploymentBusy`."""
        from agentrt.policy.reservation import Denial, Reservation, WindowCharge

        deployment = spec.deployment
        assert deployment is not None  # the caller checks that it is a deployment with limits
        backend = await self._ready()
        now = self._clock()
        hold_id = self._prefix + str(next(self._ids))
        reservation = Reservation(
            hold_id,
            now,
            now + HOLD_TTL,
            max(tokens, 0),
            0,
            (WindowCharge(deployment.key, deployment.rpm, deployment.tpm),),
            (),
            model=spec.name,
            request_id=request_id or hold_id,
            operation=operation,
            provider=spec.provider,
            journaled=False,  # the call's own policy hold is journaled; this one would recover it twice
        )
        result = await backend.reserve(reservation, now)
        if isinstance(result, Denial):
            if self.on_busy is not None:
                self.on_busy(spec)
            raise _busy(spec, result.kind, result.used, result.retry_after, tokens)
        return reservation

    async def windows(self, keys: list[str]) -> Snapshot:
        """The deployments' windows named ``keys`` as they stand (for the ``usage`` strategy)."""
        backend = await self._ready()
        return await backend.snapshot(keys, [], self._clock())

    async def _ready(self) -> PolicyBackend:
        backend = self.backend
        if self._own and not self._opened:
            self._opened = True
            await backend.open()
        return backend

    async def settle(self, reservation: Reservation, tokens: int) -> None:
        """The call was served: the hold counts the tokens it really used."""
        if reservation.state != "held":
            return
        reservation.state = "settled"
        await self.backend.settle(reservation, max(tokens, 0), 0, self._clock())

    async def release(self, reservation: Reservation) -> None:
        """The call failed there or never went: its tokens no longer count (its request does)."""
        if reservation.state != "held":
            return
        reservation.state = "released"
        await self.backend.release(reservation, self._clock())

    async def cancel(self, reservation: Reservation) -> None:
        """The call never went there (the policy refused it): the request no longer counts at all, so the
        deployment is not held for a call it never served. A backend that cannot cancel releases it."""
        if reservation.state != "held":
            return
        reservation.state = "released"
        backend = self.backend
        cancel = getattr(backend, "cancel", None)
        if cancel is None:
            await backend.release(reservation, self._clock())
        else:
            await cancel(reservation, self._clock())

    async def close(self) -> None:
        """Close the private backend, if one was made (the policy closes its own)."""
        if self._own and self._opened and self._backend is not None:
            await self._backend.close()


def _busy(spec: ModelSpec, kind: str, used: int, retry_after: float | None, tokens: int) -> DeploymentBusy:
    deployment = spec.deployment
    assert deployment is not None
    if kind == "rpm":
        what = f"{used} of rpm={deployment.rpm} requests in the last 60s"
    elif retry_after is None:
        what = f"the call holds {tokens} tokens, more than its tpm={deployment.tpm}"
    else:
        what = f"{used} of tpm={deployment.tpm} tokens in the last 60s, and the call holds {tokens}"
    wait = f"; room in {retry_after:.2f}s" if retry_after is not None else ""
    return DeploymentBusy(
        f"deployment {deployment.label} of model {spec.name!r} is at its limit ({what}){wait}",
        deployment=deployment.label,
        retry_after=retry_after,
    )
