"""Store URLs: which database a URL names, its options, and how to show it without its password.

Accepted forms (``config.store.url``)::

    sqlite:///relative/path.db        relative to base_dir (the config file's directory)
    sqlite:////absolute/path.db
    sqlite:///path.db?busy_timeout=10000   milliseconds a writer waits for the lock (default 10000)
    memory://                         SQLite in memory, private to one Store (also sqlite:///:memory:)
    postgresql://user:pw@host:5432/db?max_connections=10   any libpq URI option passes through

URLs are never echoed with their password: ``url_for_logs`` masks it, and
errors about a URL name only its scheme or its masked form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

if TYPE_CHECKING:
    from agentrt.store._base import Store

__all__ = ["StoreURL", "mask_password", "open_store", "parse_store_url"]

MASK: Final = "**********"
URL_FORMS: Final = "sqlite:///relative.db, sqlite:////absolute/path.db, memory:// or postgresql://user@host:port/db"
DEFAULT_BUSY_TIMEOUT_MS: Final = 10_000
DEFAULT_MAX_CONNECTIONS: Final = 10

# Options agentrt reads from a postgresql:// URL; libpq would refuse them, so they are removed.
_PG_OWN_OPTIONS: Final = frozenset({"max_connections", "min_connections"})
_PASSWORD_OPTIONS: Final = frozenset({"password"})


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store URL.

    ``path`` is the SQLite file (None in memory); ``conninfo`` the libpq URI for
    PostgreSQL (with its password: never log it); ``options`` holds agentrt's own
    query options (``busy_timeout``, ``max_connections``, ``min_connections``).
    """

    dialect: str
    for_logs: str
    path: Path | None = None
    conninfo: str = field(default="", repr=False)
    options: dict[str, str] = field(default_factory=dict)


def parse_store_url(url: str, *, base_dir: Path | None = None) -> StoreURL:
    """Parse a store URL; raise ``ValueError`` (naming the accepted forms, never the URL) when it is not one."""
    text = url.strip()
    if text in ("memory", ":memory:"):
        return StoreURL("sqlite", "memory://")
    scheme, sep, rest = text.partition("://")
    family = scheme.split("+", 1)[0].lower()
    if not sep:
        raise ValueError(f"the store url needs a scheme: use {URL_FORMS}")
    if family == "memory":
        return StoreURL("sqlite", "memory://")
    if family == "sqlite":
        return _parse_sqlite(rest, base_dir)
    if family in ("postgresql", "postgres"):
        return _parse_postgres(rest)
    raise ValueError(f"unsupported store url scheme {scheme[:20]!r}: use {URL_FORMS}")


def _parse_sqlite(rest: str, base_dir: Path | None) -> StoreURL:
    location, _, query = rest.partition("?")
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"busy_timeout"})
    if unknown:
        raise ValueError(f"unknown sqlite store option(s) {', '.join(unknown)}: the one option is busy_timeout (ms)")
    # sqlite:///x.db -> rest "/x.db": the host part is empty, the path follows its slash.
    if location and not location.startswith("/"):
        raise ValueError("a sqlite url has no host: write sqlite:///relative.db or sqlite:////absolute/path.db")
    name = location[1:]
    if name in ("", ":memory:"):
        return StoreURL("sqlite", "memory://", options=options)
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()).absolute() / path
    shown = f"sqlite:///{path}" + (f"?{query}" if query else "")
    return StoreURL("sqlite", shown, path=path, options=options)


def _parse_postgres(rest: str) -> StoreURL:
    location, _, query = rest.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    options = {key: value for key, value in pairs if key in _PG_OWN_OPTIONS}
    passed = [(key, value) for key, value in pairs if key not in _PG_OWN_OPTIONS]
    conninfo = "postgresql://" + location + (f"?{urlencode(passed)}" if passed else "")
    return StoreURL("postgresql", mask_password(conninfo), conninfo=conninfo, options=options)


def mask_password(url: str) -> str:
    """The URL with the password of its user info, and any ``password=`` query option, masked."""
    scheme, sep, rest = url.partition("://")
    location, qmark, query = rest.partition("?")
    userinfo, at, host = location.rpartition("@")
    if at and ":" in userinfo:
        location = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    if qmark:
        pairs = [
            (key, MASK if key.lower() in _PASSWORD_OPTIONS else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="*")
    return f"{scheme}{sep}{location}{qmark}{query}"


def url_password(conninfo: str) -> str | None:
    """The password a libpq URI carries (user info or ``password=`` option), to scrub from driver messages."""
    try:
        parts = urlsplit(conninfo)
        if parts.password:
            return parts.password
    except ValueError:
        return None
    for key, value in parse_qsl(parts.query):
        if key.lower() in _PASSWORD_OPTIONS and value:
            return value
    return None


def int_option(options: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """An integer option of a store URL, with a message that says what to write when it is not one."""
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"store url option {name} must be an integer, got {raw[:20]!r}") from None
    if value < minimum:
        raise ValueError(f"store url option {name} must be at least {minimum}, got {value}")
    return value


def open_store(url: str, *, base_dir: Path | None = None) -> Store:
    """A store for ``url``, not yet open: ``await store.open()`` or ``async with open_store(url) as store``.

    A relative ``sqlite:///`` path resolves against ``base_dir`` (default: the
    working directory). PostgreSQL needs the ``postgres`` extra (psycopg 3 and
    psycopg-pool); it is imported only here, when such a URL is opened. A URL that
    is not a store URL is a ``ConfigError`` about ``store.url``.
    """
    from agentrt.errors import ConfigError, ConfigProblem

    try:
        parsed = parse_store_url(url, base_dir=base_dir)
        if parsed.dialect == "sqlite":
            from agentrt.store.sqlite import SQLiteStore

            return SQLiteStore(parsed)
        return _postgres_store(parsed)
    except ValueError as err:
        raise ConfigError([ConfigProblem("store.url", str(err))]) from None


def _postgres_store(parsed: StoreURL) -> Store:
    try:
        from agentrt.store.postgres import PostgresStore
    except ImportError as err:
        raise ImportError(
            "a postgresql:// store needs psycopg 3 and psycopg-pool: pip install 'agentrt[postgres]'"
        ) from err
    return PostgresStore(parsed)
