"""API keys themselves: making a new one, hashing it, the configuration line that admits it.

Standard library only, so ``agentrt keys create`` starts fast.
"""

from __future__ import annotations

import hashlib
import json
import secrets

__all__ = ["KEY_PREFIX", "SCOPES", "config_line", "hash_key", "new_api_key"]

KEY_PREFIX = "sk-agentrt-"
SCOPES = ("chat", "embeddings", "agents:read", "agents:write", "tools", "approvals", "dashboard", "admin")
"""The scopes a key may list (``server.api_keys[].scopes``)."""


def new_api_key() -> str:
    """A new random key: ``sk-agentrt-`` and 32 URL-safe characters (192 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    """The lower-case hex SHA-256 of ``key``: what ``server.api_keys`` stores."""
    return hashlib.sha256(key.encode()).hexdigest()


def config_line(
    key: str,
    *,
    name: str | None = None,
    user: str | None = None,
    tenant: str | None = None,
    tags: list[str] | None = None,
    admin: bool = False,
    scopes: list[str] | None = None,
    max_agents: int | None = None,
) -> str:
    """The YAML list item for ``server.api_keys`` that admits ``key`` (which it does not contain)."""
    fields: dict[str, object] = {"key_sha256": hash_key(key)}
    for label, value in (("name", name), ("user", user), ("tenant", tenant)):
        if value is not None:
            fields[label] = value
    if tags:
        fields["tags"] = list(tags)
    if admin:
        fields["admin"] = True
    if scopes:
        fields["scopes"] = list(dict.fromkeys(scopes))
    if max_agents is not None:
        fields["max_agents"] = max_agents
    # JSON scalars and lists are valid YAML flow values, and quoting them this way is always safe.
    items = ", ".join(f"{label}: {json.dumps(value)}" for label, value in fields.items())
    return f"- {{{items}}}"
