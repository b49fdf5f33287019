"""Trace context across processes: an ask or a tell carries its sender's span to the shard host.

The sender injects the current OpenTelemetry context (W3C ``traceparent``)
into a small dict that travels next to the activity; the host attaches it
while it queues the activity, so the agent's ``invoke_agent`` span (and the
model calls under it) continue the sender's trace. When the agent was idle,
the drain task starts inside that context; a busy agent's drain task keeps the
context of the message that woke it (its spans stay in that trace).

Nothing is imported unless OpenTelemetry is already in use in the process:
when tracing is off, a message carries None and costs nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["carrier", "within"]

T = TypeVar("T")


def carrier() -> dict[str, str] | None:
    """The current trace context as text headers, or None (no tracing in this process, or no span)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import propagate

    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers or None


async def within(headers: dict[str, str] | None, work: Awaitable[T]) -> T:
    """Await ``work`` inside the trace context ``headers`` carry (as is when None)."""
    if headers is None:
        return await work
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract(headers))
    try:
        return await work
    finally:
        context.detach(token)


