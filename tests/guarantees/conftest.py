"""Fixtures of the guarantee tests: the policy backend kind (memory, sqlite, redis) they attack.

The real redis-server comes from ``tests/server_fixtures.py`` (``redis_url``, one per session).
"""

from __future__ import annotations

import pytest


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def redis_url_if_needed(backend_kind: str, request: pytest.FixtureRequest) -> str | None:
    """The session's redis URL for the redis backend (starting redis-server only then), else None."""
    if backend_kind != "redis":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url
