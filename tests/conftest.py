"""Shared fixtures. Tests never read the developer's own environment's agentrt settings."""

from __future__ import annotations

import os

import pytest

from server_fixtures import postgres_url, redis_url  # noqa: F401


@pytest.fixture(autouse=True)
def _in_a_scratch_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # A runtime built from a mapping keeps its SQLite store (and any relative path) in the
    # working directory: each test gets its own, never the repository.
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _clean_agentrt_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AGENTRT"):
            monkeypatch.delenv(name)
