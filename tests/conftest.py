"""Shared fixtures. Tests never read the developer's own environment's agentrt settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _clean_agentrt_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for name in list(os.environ):
        if name.startswith("AGENTRT"):
            monkeypatch.delenv(name)
    yield
