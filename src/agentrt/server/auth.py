"""API keys: ``Authorization: Bearer <key>`` (or ``x-api-key: <key>``) to the principal that policies apply to.

The configuration stores each key only as its SHA-256 (``server.api_keys``);
a request's key is hashed and looked up in a dict built once, and rebuilt
when a reload changes the ``server`` section (:meth:`ApiKeys.reconfigure`).
Comparing digests through a dict lookup leaks nothing useful by timing: the
caller controls the key, not its digest.

Nothing of a presented key is ever logged or put in an error message; a key
is named by its configured ``name``, or the first 8 characters of its hash.

Scopes: a key may do what its ``scopes`` list (``chat``, ``embeddings``,
``agents:read``, ``agents:write``, ``tools``, ``admin``). A key without ``scopes`` has
every scope but ``admin`` (and ``approvals``: approving a tool call is granted
explicitly), as before scopes existed; ``admin: true`` adds ``admin``, which also
covers every other scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from agentrt.calls.principal import Principal
from agentrt.server.errors import HttpError
from agentrt.server.keys import hash_key

if TYPE_CHECKING:
    from agentrt.config import ServerSection

__all__ = ["DEFAULT_SCOPES", "NO_KEYS_MESSAGE", "ApiKey", "ApiKeys"]

_log = structlog.get_logger("agentrt.server")

NO_KEYS_MESSAGE = (
    "this server has no API keys configured, so it refuses every request: run `agentrt keys create` "
    "and add the line it prints under server.api_keys in the configuration, then reload or restart"
)


DEFAULT_SCOPES = frozenset({"chat", "embeddings", "agents:read", "agents:write", "tools"})
"""The scopes of a key that lists none: everything but ``admin``."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One configured key: the principal its requests run as, and what it may do."""

    principal: Principal
    admin: bool
    label: str  # the key's name, or the first 8 characters of its hash: what logs and policies see
    scopes: frozenset[str] = DEFAULT_SCOPES
    max_agents: int | None = None  # the live agents its tenant may have; None: the server's default

    @property
    def owner(self) -> Principal:
        """Whom what this key creates belongs to: its tenant, else its user, else the key itself
        (``key:<label>``: a key naming neither still owns what it spawns, and only it)."""
        tenant, user = self.principal.tenant, self.principal.user
        if tenant is not None:
            return Principal(tenant=tenant)
        return Principal(user=user if user is not None else f"key:{self.label}")

    def allows(self, scope: str) -> bool:
        return self.admin or scope in self.scopes

    def require(self, scope: str) -> None:
        """``HttpError`` 403 unless the key has ``scope``."""
        if not self.allows(scope):
            raise HttpError(
                403,
                f"the API key {self.label!r} lacks the scope {scope!r}: add it to the key's `scopes` in "
                "server.api_keys",
                type="permission_error",
                code="insufficient_scope",
            )


class ApiKeys:
    """The keys of ``server.api_keys`` by hash; a running service that takes the ``server`` section on reload."""

    __slots__ = ("_by_hash", "_settings")

    def __init__(self, section: ServerSection) -> None:
        self._by_hash = _index(section)
        self._settings = _restart_settings(section)

    def __len__(self) -> int:
        return len(self._by_hash)

    def lookup(self, key: str) -> ApiKey | None:
        """The configured key ``key`` is, or None."""
        return self._by_hash.get(hash_key(key))

    def lookup_digest(self, digest: str) -> ApiKey | None:
        """The configured key whose SHA-256 is ``digest`` (a dashboard session holds the digest, not the key)."""
        return self._by_hash.get(digest)

    def authenticate(self, authorization: str | None, *, admin: bool = False, api_key: str | None = None) -> ApiKey:
        """The key an ``Authorization`` header presents, else the one an ``x-api-key`` header presents
        (``api_key``: how the anthropic SDK and Claude Code send it); ``HttpError`` 401 (or 403 for a
        non-admin key on an admin route) otherwise."""
        by_hash = self._by_hash
        if not by_hash:
            raise HttpError(401, NO_KEYS_MESSAGE, code="no_api_keys_configured")
        if not authorization and api_key:
            authorization = "Bearer " + api_key
        if not authorization:
            raise HttpError(
                401,
                "missing API key: send the header `Authorization: Bearer <key>` (or `x-api-key: <key>`)",
                code="missing_api_key",
            )
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        # Keys are ASCII: anything else (bytes that are not UTF-8 arrive as surrogates) matches none.
        entry = by_hash.get(hash_key(key)) if scheme.lower() == "bearer" and key.isascii() else None
        if entry is None:
            # Nothing of the presented value is logged: a mistyped key is often a real one.
            _log.warning("http_auth_failed", reason="unknown key" if scheme.lower() == "bearer" else "not a bearer key")
            raise HttpError(
                401, "invalid API key: check the key, or create one with `agentrt keys create`", code="invalid_api_key"
            )
        if admin and not entry.admin:
            raise HttpError(
                403,
                f"the API key {entry.label!r} is not an admin key: this endpoint needs a key with `admin: true` "
                "in server.api_keys",
                type="permission_error",
                code="admin_key_required",
            )
        return entry

    def reconfigure(self, section: ServerSection) -> None:
        """Take a new ``server`` section: the keys change at once, the rest at the next restart."""
        self._by_hash = _index(section)
        settings = _restart_settings(section)
        if settings != self._settings:
            _log.warning(
                "server_settings_need_restart",
                settings=sorted(k for k in settings if settings[k] != self._settings.get(k)),
                hint="these server settings take effect when `agentrt serve` is restarted",
            )
        _log.info("server_api_keys_reloaded", keys=len(self._by_hash))


def _index(section: ServerSection) -> dict[str, ApiKey]:
    index: dict[str, ApiKey] = {}
    for item in section.api_keys:
        label = item.name or item.key_sha256[:8]
        principal = Principal(user=item.user, tenant=item.tenant, api_key=label, tags=tuple(item.tags))
        scopes = DEFAULT_SCOPES if item.scopes is None else frozenset(item.scopes)
        admin = item.admin or "admin" in scopes
        index[item.key_sha256.lower()] = ApiKey(principal, admin, label, scopes, item.max_agents)
    return index


# Read when the server starts; metrics_token and max_agents_per_tenant are read per request instead.
_RESTART_SETTINGS = ("host", "port", "max_body", "max_connections", "header_timeout", "body_timeout", "idle_timeout")


def _restart_settings(section: ServerSection) -> dict[str, object]:
    return {name: getattr(section, name) for name in _RESTART_SETTINGS}
