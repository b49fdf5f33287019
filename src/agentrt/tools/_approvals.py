"""Approvals: a tool call that needs a person's yes waits here until it gets it, a no, or its timeout.

::

    decision = await approvals.request(request)      # parks: an ``approval_requested`` event is published
    approvals.approve(request.id, by="alice")        # ... from another task, the CLI or ``POST /v1/approvals/{id}``
    approvals.reject(request.id, "not on a Friday", by="bob")

A timeout counts as a rejection. Pending approvals live in this process only:
they do not survive a restart. When the runtime stops, every parked call is
rejected with the reason ``runtime stopping`` (so its model turn goes on and
ends), and a request made after that is rejected at once. Subscribers
(:meth:`Approvals.subscribe`) get every event: requested, approved, rejected,
timed out; the server streams them.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal

from agentrt.errors import ToolError

__all__ = [
    "DEFAULT_APPROVAL_TIMEOUT",
    "ApprovalDecision",
    "ApprovalEvent",
    "ApprovalRequest",
    "ApprovalSubscription",
    "Approvals",
    "UnknownApproval",
]

DEFAULT_APPROVAL_TIMEOUT = 300.0
"""Seconds a parked tool call waits for a decision before it counts as rejected (``policies.approval_timeout``)."""

STOPPING = "runtime stopping"

EventKind = Literal["requested", "approved", "rejected", "timeout"]


class UnknownApproval(ToolError, LookupError):
    """No pending approval has that id (decided already, timed out, another tenant's, or never made)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequest:
    """One parked tool call, as approvers see it. ``arguments`` are already redacted (secret fields hidden)."""

    id: str
    tool: str
    arguments: Mapping[str, Any]
    user: str | None = None
    tenant: str | None = None
    api_key: str | None = None
    request_id: str | None = None
    rule: str | None = None
    """The policy rule that asked for approval (``None``: the tool's own ``approval: required``)."""
    created: float = field(default_factory=time.time)
    expires_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "arguments": dict(self.arguments),
            "user": self.user,
            "tenant": self.tenant,
            "api_key": self.api_key,
            "request_id": self.request_id,
            "rule": self.rule,
            "created": self.created,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """How a parked call was decided: ``approved`` or not, by whom, why; ``timed_out`` when nobody decided."""

    approved: bool
    by: str | None = None
    reason: str | None = None
    timed_out: bool = False

    @property
    def label(self) -> Literal["approved", "rejected", "timeout"]:
        """The audit trail's decision: ``approved``, ``rejected`` or ``timeout``."""
        if self.approved:
            return "approved"
        return "timeout" if self.timed_out else "rejected"


@dataclass(frozen=True, slots=True)
class ApprovalEvent:
    """What subscribers receive: a request parked (``requested``) or how it ended."""

    kind: EventKind
    request: ApprovalRequest
    by: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "approval": self.request.as_dict(), "by": self.by, "reason": self.reason}


@dataclass(slots=True)
class _Parked:
    request: ApprovalRequest
    future: asyncio.Future[ApprovalDecision]


class Approvals:
    """The pending approvals of one runtime, with their events. All methods run on the event loop's thread.

    ``timeout`` is the default wait in seconds; ``on_change`` is called with the
    number pending after each change (a metrics gauge).
    """

    def __init__(
        self, timeout: float = DEFAULT_APPROVAL_TIMEOUT, *, on_change: Callable[[int], None] | None = None
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"an approval timeout must be more than 0 seconds, got {timeout}")
        self.timeout = timeout
        self.on_change = on_change
        self._parked: dict[str, _Parked] = {}
        self._subscribers: set[ApprovalSubscription] = set()
        self._prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self._closed = False

    def new_id(self) -> str:
        """A fresh approval id: hard to guess (a random part), unique in this process."""
        return f"apr-{self._prefix}{next(self._ids):x}-{secrets.token_hex(4)}"

    async def request(self, request: ApprovalRequest, *, timeout: float | None = None) -> ApprovalDecision:
        """Park ``request`` until it is approved, rejected, or ``timeout`` (default :attr:`timeout`) passes.

        A cancelled caller withdraws its request (subscribers see it rejected, reason ``cancelled``).
        """
        if self._closed:
            return ApprovalDecision(False, reason=STOPPING)
        wait = self.timeout if timeout is None else timeout
        if request.expires_at == 0.0:
            request = replace(request, expires_at=request.created + wait)
        future: asyncio.Future[ApprovalDecision] = asyncio.get_running_loop().create_future()
        self._parked[request.id] = _Parked(request, future)
        self._changed()
        self._publish(ApprovalEvent("requested", request))
        try:
            async with asyncio.timeout(wait):
                return await asyncio.shield(future)
        except TimeoutError:
            if future.done():  # decided in the same tick the timer fired: the decision stands
                return future.result()
            self._end(request.id, "timeout", None, f"no decision within {wait:g}s")
            return ApprovalDecision(False, reason=f"no decision within {wait:g}s", timed_out=True)
        except asyncio.CancelledError:
            if request.id in self._parked:
                self._end(request.id, "rejected", None, "cancelled")
            raise
        finally:
            if self._parked.pop(request.id, None) is not None:
                self._changed()

    def pending(self, *, tenant: str | None = None, all_tenants: bool = True) -> list[ApprovalRequest]:
        """The parked requests, oldest first; only ``tenant``'s when ``all_tenants`` is false.

        A request decided a moment ago is gone at once, though its caller wakes on the next tick.
        """
        requests = [parked.request for parked in self._parked.values() if not parked.future.done()]
        if not all_tenants:
            requests = [request for request in requests if request.tenant == tenant]
        return requests

    def get(self, approval_id: str, *, tenant: str | None = None, all_tenants: bool = True) -> ApprovalRequest:
        """The parked request ``approval_id``; :class:`UnknownApproval` when there is none (for this tenant)."""
        return self._find(approval_id, tenant, all_tenants).request

    def approve(
        self, approval_id: str, *, by: str | None = None, tenant: str | None = None, all_tenants: bool = True
    ) -> ApprovalRequest:
        """Let the parked call run. ``tenant``/``all_tenants`` restrict it to one tenant's calls (the server)."""
        parked = self._find(approval_id, tenant, all_tenants)
        parked.future.set_result(ApprovalDecision(True, by=by))
        return self._end(approval_id, "approved", by, None)

    def reject(
        self,
        approval_id: str,
        reason: str | None = None,
        *,
        by: str | None = None,
        tenant: str | None = None,
        all_tenants: bool = True,
    ) -> ApprovalRequest:
        """Refuse the parked call: the model is told ``reason`` as the tool's error."""
        parked = self._find(approval_id, tenant, all_tenants)
        parked.future.set_result(ApprovalDecision(False, by=by, reason=reason))
        return self._end(approval_id, "rejected", by, reason)

    def subscribe(self, buffer: int = 256) -> ApprovalSubscription:
        """Every approval event from now on, bounded to ``buffer`` unread ones (older ones are dropped)."""
        subscription = ApprovalSubscription(buffer, self._subscribers.discard)
        if self._closed:
            subscription.end()
        else:
            self._subscribers.add(subscription)
        return subscription

    def close(self) -> int:
        """Reject every parked call (reason ``runtime stopping``), end the subscriptions; how many were parked."""
        if self._closed:
            return 0
        self._closed = True
        parked = list(self._parked.values())
        for item in parked:
            if not item.future.done():
                item.future.set_result(ApprovalDecision(False, reason=STOPPING))
                self._end(item.request.id, "rejected", None, STOPPING)
        for subscription in list(self._subscribers):
            subscription.end()
        self._subscribers.clear()
        return len(parked)

    @property
    def closed(self) -> bool:
        return self._closed

    def _find(self, approval_id: str, tenant: str | None, all_tenants: bool) -> _Parked:
        parked = self._parked.get(approval_id)
        # Another tenant's request is reported exactly like a missing one: its existence is not theirs to know.
        if parked is None or parked.future.done() or (not all_tenants and parked.request.tenant != tenant):
            raise UnknownApproval(
                f"no pending approval {approval_id!r}: it was decided already, timed out, or does not exist; "
                "list the pending ones with rt.tools.pending() or GET /v1/approvals"
            )
        return parked

    def _end(self, approval_id: str, kind: EventKind, by: str | None, reason: str | None) -> ApprovalRequest:
        parked = self._parked[approval_id]
        self._publish(ApprovalEvent(kind, parked.request, by, reason))
        self._changed()
        return parked.request

    def _publish(self, event: ApprovalEvent) -> None:
        for subscription in list(self._subscribers):
            subscription.publish(event)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(sum(1 for parked in self._parked.values() if not parked.future.done()))


class ApprovalSubscription:
    """An async iterator over approval events; ``dropped`` counts those lost because the reader fell behind."""

    __slots__ = ("_buffer", "_closed", "_events", "_on_close", "_waiter", "dropped")

    def __init__(self, buffer: int, on_close: Callable[[ApprovalSubscription], None]) -> None:
        if buffer < 1:
            raise ValueError(f"a subscription's buffer must hold at least one event, got {buffer}")
        self._buffer = buffer
        self._events: deque[ApprovalEvent] = deque()
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._on_close = on_close
        self.dropped = 0

    def publish(self, event: ApprovalEvent) -> None:
        """Queue ``event``; drop it (counted) when the buffer is full. Never waits."""
        if self._closed:
            return
        if len(self._events) >= self._buffer:
            self.dropped += 1
            return
        self._events.append(event)
        self._wake()

    def end(self) -> None:
        """No more events: iteration stops once the queued ones are read."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> ApprovalSubscription:
        return self

    async def __anext__(self) -> ApprovalEvent:
        while True:
            if self._events:
                return self._events.popleft()
            if self._closed:
                self._on_close(self)
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def aclose(self) -> None:
        """Stop receiving events; safe to call more than once."""
        self._closed = True
        self._events.clear()
        self._on_close(self)
        self._wake()

    async def __aenter__(self) -> ApprovalSubscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
