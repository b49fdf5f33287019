"""Shared fixtures. Tests never read the developer's own environment's agentrt settings."""

from __future__ import annotations

import os

import pytest

from server_fixtures import postgres_url, redis_url  # noqa: F401


@pytest.fixture(autouse=True)
def _clean_agentrt_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AGENTRT"):
            monkeypatch.delenv(name)
