"""Who a call is made for: the subject of every policy rule, limit and budget."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Principal", "request_id"]

request_id: ContextVar[str | None] = ContextVar("agentrt_request_id", default=None)
"""The id of the request being served (the server sets it); the ledger and audit rows carry it."""


@dataclass(slots=True, frozen=True)
class Principal:
    """A user within a tenant, possibly through an API key, with free-form tags.

    ``api_key`` is the key's configured name, never the key itself.
    """

    user: str | None = None
    tenant: str | None = None
    api_key: str | None = None
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, user: str | None = None, tenant: str | None = None) -> Principal:
        """The principal for ``user`` and ``tenant``; the shared anonymous one when both are None."""
        if user is None and tenant is None:
            return ANONYMOUS
        return cls(user, tenant)


ANONYMOUS = Principal()
