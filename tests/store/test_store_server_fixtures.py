"""The real-server fixtures: each server answers; a missing binary skips (fails under CI) with the install command."""

from __future__ import annotations

import uuid

import pytest

import server_fixtures


def test_redis_url_is_a_live_redis_server(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        key = f"agentrt-test:{uuid.uuid4().hex}"
        assert client.set(key, "1", ex=60)
        assert client.incr(key) == 2
        assert redis_url.startswith("redis://127.0.0.1:")
        assert redis_url.endswith("/0")
    finally:
        client.close()


def test_postgres_url_is_a_live_postgresql_server(postgres_url: str) -> None:
    import psycopg

    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_user, current_setting('server_version_num')::int").fetchone()
    assert row is not None
    assert row[0] == "postgres"
    assert row[1] >= 150000


def test_a_missing_server_skips_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="sudo apt-get install redis-server"):
        server_fixtures._missing(server_fixtures.REDIS_MISSING)


def test_a_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="sudo apt-get install postgresql"):
        server_fixtures._missing(server_fixtures.POSTGRES_MISSING)
