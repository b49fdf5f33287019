"""Who a call is made for: the subject of every policy rule, limit and budget."""

from __future__ import annotations

import itertools
import os
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["ANONYMOUS", "Principal", "new_request_id", "request_id"]

request_id: ContextVar[str | None] = ContextVar("agentrt_request_id", default=None)
"""The id of the request being served (the server sets it from ``x-request-id``); when it is unset,
each call makes its own with :func:`new_request_id`. Ledger, audit rows, log lines and spans carry it."""

_id_prefix = secrets.token_hex(8)
_id_counter = itertools.count(1)


def _new_prefix_after_fork() -> None:  # a forked worker must not repeat its parent's ids
    global _id_prefix, _id_counter
    _id_prefix = secrets.token_hex(8)
    _id_counter = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_prefix_after_fork)


def new_request_id() -> str:
    """A new request id: a random 64-bit prefix per process and a counter, unique and cheap to make."""
    return f"{_id_prefix}-{next(_id_counter):x}"


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
