"""The policy tests' fixtures: ``make_engine`` builds an engine on each backend (memory, sqlite, redis)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from policy_support import FakeClock, MakeEngine

from agentrt.config import PoliciesSection
from agentrt.policy import PolicyBackend, PolicyEngine
from agentrt.policy.backends import MemoryBackend


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def make_backend(
    backend_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], Awaitable[PolicyBackend]]]:
    """Builds backends of the parametrised kind that share their counters (one database, one key prefix)."""
    cleanups: list[Callable[[], Awaitable[None]]] = []
    prefix = f"test:{uuid.uuid4().hex[:8]}:"

    async def make() -> PolicyBackend:
        if backend_kind == "memory":
            return MemoryBackend()
        if backend_kind == "sqlite":
            from agentrt.policy.backends.sqlite import SqliteBackend
            from agentrt.store import open_store

            store = open_store(f"sqlite:///{tmp_path / 'policy.db'}")
            await store.open()
            cleanups.append(store.close)
            return SqliteBackend(store)
        from agentrt.policy.backends.redis import RedisBackend

        return RedisBackend(request.getfixturevalue("redis_url"), key_prefix=prefix)

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


@pytest.fixture
async def make_engine(
    make_backend: Callable[[], Awaitable[PolicyBackend]], clock: FakeClock
) -> AsyncIterator[MakeEngine]:
    """``await make_engine(section, **engine_kwargs)``: an open engine on the parametrised backend."""
    engines: list[PolicyEngine] = []

    async def make(section: PoliciesSection, **kwargs: Any) -> PolicyEngine:
        kwargs.setdefault("clock", clock)
        engine = PolicyEngine(section, await make_backend(), **kwargs)
        await engine.open()
        engines.append(engine)
        return engine

    yield make
    for engine in reversed(engines):
        await engine.close()
