"""The deadline of a model call: its own ``timeout=``, else :data:`DEFAULT_CALL_TIMEOUT`.

It bounds everything the call waits for: a provider's concurrency slot, every
try, retry and fallback, and for a stream every event up to the last, so an
upstream that trickles for ever cannot hold a call (or its slot) open.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from agentrt.errors import ProviderTimeout

if TYPE_CHECKING:
    from agentrt.models import ModelSpec

__all__ = ["DEFAULT_CALL_TIMEOUT", "call_timeout", "deadline_seconds"]

DEFAULT_CALL_TIMEOUT = 600.0
"""Seconds a model call may take when it names no ``timeout``: slot wait, retries, fallbacks and the
whole stream included. Long enough for any ordinary answer; a stream of a very long answer needs its own
``timeout=`` (``math.inf`` for none)."""


def call_timeout(spec: ModelSpec, timeout: float | None) -> ProviderTimeout:
    """The error of a call that passed its deadline (its own ``timeout``, or the default)."""
    if timeout is None:
        limit = f"the default deadline of {DEFAULT_CALL_TIMEOUT:g}s (no timeout= was given)"
    else:
        limit = f"its timeout of {timeout:g}s"
    return ProviderTimeout(
        f"the call to model {spec.name!r} did not finish within {limit}, slot wait, retries, fallbacks "
        "and the whole stream included; pass a larger timeout= or check the provider",
        provider=spec.provider,
        model=spec.name,
    )


def deadline_seconds(timeout: float | None) -> float | None:
    """The seconds for ``asyncio.timeout``: the default when none was given, None for ``math.inf``."""
    if timeout is None:
        return DEFAULT_CALL_TIMEOUT
    return None if math.isinf(timeout) else timeout
