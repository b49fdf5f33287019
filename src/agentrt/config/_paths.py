"""Dotted paths into a configuration, and which of them hold secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import PurePath
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "MASK",
    "Key",
    "Loc",
    "format_path",
    "is_secret_path",
    "mask_secrets",
    "mask_url",
    "parse_path",
    "url_password",
    "walk_secrets",
    "walk_strings",
]

MASK: Final = "**********"
"""What a secret looks like wherever it is shown (pydantic's own ``SecretStr`` mask)."""

Key = str | int
Loc = tuple[Key, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(loc: Sequence[Key]) -> str:
    """``('providers', 'openai', 'timeout')`` -> ``providers.openai.timeout``.

    List indices become ``[0]``; keys that would be ambiguous after a dot (``gpt-4.1``,
    ``agentrt.providers``) are quoted: ``models["gpt-4.1"]``.
    """
    out: list[str] = []
    for part in loc:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f'["{part}"]')
    return "".join(out)


_PATH_PART = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(path: str) -> Loc:
    """The inverse of :func:`format_path`.

    ``models["gpt-4.1"].fallbacks[0]`` -> ``('models', 'gpt-4.1', 'fallbacks', 0)``.
    """
    out: list[Key] = []
    for match in _PATH_PART.finditer(path):
        plain, index, quoted = match.groups()
        out.append(int(index) if index is not None else (plain if plain is not None else quoted))
    return tuple(out)


def is_secret_path(loc: Sequence[Key]) -> bool:
    """True for the paths whose values are secrets: a provider's ``api_key`` and ``headers``.

    Also inside ``environments.<env>``, where overlays hold the same sections as raw data.
    """
    if len(loc) >= 2 and loc[0] == "environments":
        loc = loc[2:]
    if len(loc) < 3 or loc[0] != "providers":
        return False
    from agentrt.config._catalog import PROVIDER_SECRET_FIELDS

    return loc[2] in PROVIDER_SECRET_FIELDS or loc[2] == "headers"


def url_password(url: str) -> str | None:
    """The password of a URL (``postgresql://user:pw@host/db``), or None."""
    if "@" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_url(url: str) -> str:
    """The URL with its password, if any, replaced by the mask."""
    password = url_password(url)
    if not password:
        return url
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:{MASK}{at}{host}"


def walk_strings(value: Any) -> Iterator[str]:
    """Every string in plain data, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from walk_strings(item)


def walk_secrets(value: Any, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Every ``(path, value)`` at a secret path in plain data (dicts and lists), at any depth."""
    if is_secret_path(loc) and not isinstance(value, dict | list):
        yield loc, value
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk_secrets(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_secrets(item, (*loc, index))


def mask_secrets(value: Any, loc: Loc = ()) -> Any:
    """Plain data fit to show: secrets masked, URL passwords masked, paths as text.

    Any URL with a password (store url, redis backend, a base_url) has it masked.
    Takes what ``model_dump`` returns (``SecretStr`` objects in python mode, their
    mask in json mode) and raw overlays under ``environments``, which hold secrets
    as plain strings.
    """
    from pydantic import SecretStr  # pydantic is imported by then; here to keep this module light

    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, dict):
        return {key: mask_secrets(item, (*loc, str(key))) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(item, (*loc, index)) for index, item in enumerate(value)]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, str):
        if is_secret_path(loc):
            return MASK
        if "://" in value and "@" in value:
            return mask_url(value)
    return value
