"""Where policy counters live: ``memory`` (one process), ``sqlite`` (the store), ``redis`` (shared).

``SqliteBackend`` and ``RedisBackend`` are imported on first use, so a process
that counts in memory never imports the store or redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentrt.policy.backends.base import BudgetCounter, PolicyBackend, Snapshot, WindowCounter
from agentrt.policy.backends.memory import MemoryBackend

if TYPE_CHECKING:
    from agentrt.policy.backends.redis import RedisBackend
    from agentrt.policy.backends.sqlite import SqliteBackend

__all__ = [
    "BudgetCounter",
    "MemoryBackend",
    "PolicyBackend",
    "RedisBackend",
    "Snapshot",
    "SqliteBackend",
    "WindowCounter",
]


def __getattr__(name: str) -> Any:
    if name == "RedisBackend":
        from agentrt.policy.backends.redis import RedisBackend

        return RedisBackend
    if name == "SqliteBackend":
        from agentrt.policy.backends.sqlite import SqliteBackend

        return SqliteBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
