"""Store URLs: the accepted forms, their options, and the password masked wherever a URL is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.errors import ConfigError
from agentrt.store import open_store
from agentrt.store._url import mask_password, parse_store_url


@pytest.mark.parametrize("url", ["memory://", "memory", ":memory:", "sqlite:///:memory:", "sqlite://"])
def test_the_forms_of_an_in_memory_store(url: str) -> None:
    parsed = parse_store_url(url)
    assert (parsed.dialect, parsed.path, parsed.for_logs) == ("sqlite", None, "memory://")


def test_sqlite_paths_relative_and_absolute(tmp_path: Path) -> None:
    assert parse_store_url("sqlite:///db/a.db", base_dir=tmp_path).path == tmp_path / "db" / "a.db"
    assert parse_store_url("sqlite:////var/lib/a.db", base_dir=tmp_path).path == Path("/var/lib/a.db")
    parsed = parse_store_url("sqlite:////var/lib/a.db?busy_timeout=250")
    assert parsed.options == {"busy_timeout": "250"}
    assert parsed.for_logs == "sqlite:////var/lib/a.db?busy_timeout=250"


def test_postgres_urls_keep_libpq_options_and_take_their_own() -> None:
    parsed = parse_store_url("postgres://u:pw@db.internal:6432/app?sslmode=require&max_connections=4")
    assert parsed.dialect == "postgresql"
    assert parsed.conninfo == "postgresql://u:pw@db.internal:6432/app?sslmode=require"
    assert parsed.options == {"max_connections": "4"}
    assert parsed.for_logs == "postgresql://u:**********@db.internal:6432/app?sslmode=require"
    assert "pw" not in repr(parsed)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p%40ss@h/db", "postgresql://u:**********@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?password=x&sslmode=disable", "postgresql://h/db?password=**********&sslmode=disable"),
        ("postgresql://u:a:b@c@h/db", "postgresql://u:**********@h/db"),
    ],
)
def test_mask_password(url: str, shown: str) -> None:
    assert mask_password(url) == shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:secret@h/db", "unsupported store url scheme 'mysql'"),
        ("agentrt.db", "needs a scheme"),
        ("sqlite://host/a.db", "has no host"),
        ("sqlite:///a.db?journal=off", "unknown sqlite store option"),
        ("sqlite:///a.db?busy_timeout=soon", "busy_timeout must be an integer"),
        ("postgresql://u:secret@h/db?max_connections=0", "max_connections must be at least 1"),
    ],
)
def test_a_bad_url_is_a_config_error_about_store_url_without_the_url(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        open_store(url)
    assert caught.value.problems[0].path == "store.url"
    assert "secret" not in str(caught.value)
