"""Wire names: what a registry tool is called in a request to a provider, and back.

Providers accept tool names matching ``^[A-Za-z0-9_-]{1,64}$``, so ``github.search``
cannot be sent as it is. :func:`wire_names` maps each full name of one request
to a name providers accept: ``github__search`` (characters outside the set
become ``_``); when that is longer than 64 characters, or already taken (by a
Python tool of the call, or another full name), it is cut and suffixed with a
hash of the full name. The map depends only on the names given, so it is the
same for every step of a tool loop, and it is one-to-one, so the model's tool
call finds its tool again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Final

__all__ = ["MAX_WIRE_NAME", "wire_names"]

MAX_WIRE_NAME: Final = 64
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")
_SEPARATOR: Final = "__"
_HASH_LENGTH: Final = 8


def _plain(full_name: str) -> str:
    toolkit, _, tool = full_name.partition(".")
    return _NOT_ALLOWED.sub("_", toolkit) + _SEPARATOR + _NOT_ALLOWED.sub("_", tool)


def _hashed(full_name: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{attempt}:{full_name}".encode()).hexdigest()[:_HASH_LENGTH]
    keep = MAX_WIRE_NAME - _HASH_LENGTH - 1
    return f"{_plain(full_name)[:keep]}_{digest}"


def wire_names(full_names: Iterable[str], *, taken: Iterable[str] = ()) -> dict[str, str]:
    """``{full_name: wire_name}`` for ``full_names`` (``toolkit.tool``), none equal to a name in ``taken``.

    Deterministic in the set of names: they are assigned in sorted order, the
    plain form first, so adding a name to a call changes only that name's
    wire name or, on a clash, the later one's.
    """
    used = set(taken)
    result: dict[str, str] = {}
    for full_name in sorted(set(full_names)):
        candidate = _plain(full_name)
        attempt = 0
        while len(candidate) > MAX_WIRE_NAME or candidate in used:
            candidate = _hashed(full_name, attempt)
            attempt += 1
        used.add(candidate)
        result[full_name] = candidate
    return result
