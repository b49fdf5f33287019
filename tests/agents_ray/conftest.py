"""Fixtures of the Ray backend's tests: one loopback Ray cluster per test session (starting one costs
seconds), PostgreSQL and Redis for the store and the policies (memory and SQLite are refused under ray).

Every test here is marked ``ray``; without the ``ray`` extra they are skipped with the command that
installs it (``pip install 'agentrt[ray]'``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import structlog
from ray_support import LoopbackCluster, ray_installed

RAY_MISSING = "ray is not installed: pip install -e '.[ray]' (or '.[dev]')"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.ray)
            if not ray_installed():
                item.add_marker(pytest.mark.skip(reason=RAY_MISSING))


@pytest.fixture(autouse=True)
def _captured_logs() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LoopbackCluster]:
    """A head and two worker nodes on 127.0.0.1, this process connected as a driver (namespace
    ``agentrt-tests``). Shared by the session: a test that removes nodes adds its own first."""
    # This folder on the workers' path: the test agent classes (ray_agents.py) travel by reference.
    with LoopbackCluster(workers=2, python_path=[Path(__file__).parent]) as cluster:
        yield cluster


@pytest.fixture
def ray_namespace() -> str:
    """A namespace of this test's own: its shard hosts (named actors) never meet another test's."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_store_url(postgres_url: str) -> Iterator[str]:
    """The session's PostgreSQL, with this test's tables in a fresh schema dropped afterwards."""
    import psycopg

    schema = f"agents_ray_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_url}?options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
