"""The ``http_get`` built-in: fetch a URL for the model, within limits the configuration sets.

- Only ``http`` and ``https``, only hosts matching ``allow_hosts`` (any public
  host when that list is empty).
- Private, loopback, link-local and other non-global addresses are refused
  unless ``allow_private``: the check is made on the addresses the connection
  really uses (a resolver that drops them, and the same test for an address
  written in the URL), so a name that resolves to ``127.0.0.1`` is caught too.
- Redirects are followed by hand (at most ``MAX_REDIRECTS``), each hop checked
  as the first was.
- The body is read in chunks and refused once it passes ``max_bytes``; the
  whole fetch, redirects included, is bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import ipaddress
import socket
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urljoin, urlsplit

from agentrt.config._tools import HttpGetOptions
from agentrt.tools._tool import Tool

if TYPE_CHECKING:
    import aiohttp
    from aiohttp.abc import ResolveResult

__all__ = ["MAX_REDIRECTS", "FetchRefused", "HttpGetClient", "http_get_tools"]

MAX_REDIRECTS: Final = 5
_CHUNK: Final = 64 * 1024
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


class FetchRefused(ValueError):
    """A fetch the tool's limits forbid (host, address, size, scheme); the message says which limit."""


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is on the public internet (not private, loopback, link-local, reserved, multicast)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class HttpGetClient:
    """The fetches of one ``http_get`` toolkit, over one aiohttp session made at the first fetch."""

    def __init__(self, options: HttpGetOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str) -> dict[str, Any]:
        """``{"url", "status", "content_type", "body"}`` of ``url`` after redirects; :class:`FetchRefused`
        when a limit forbids it, ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(self.options.timeout):
            session = self._open()
            current = url
            for _ in range(MAX_REDIRECTS + 1):
                self._check_url(current)
                async with session.get(current, allow_redirects=False) as response:
                    if response.status in _REDIRECTS and "Location" in response.headers:
                        current = urljoin(current, response.headers["Location"])
                        continue
                    body = await self._read(response)
                    return {
                        "url": current,
                        "status": response.status,
                        "content_type": response.content_type,
                        "body": _text(body, response.charset),
                    }
            raise FetchRefused(f"more than {MAX_REDIRECTS} redirects: stopped at {current}")

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            resolver = _resolver_class()(self.options.allow_private)
            connector = aiohttp.TCPConnector(resolver=resolver, limit=16, use_dns_cache=False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # a proxy from the environment would hide the address really reached
                timeout=aiohttp.ClientTimeout(total=self.options.timeout),
                headers={"User-Agent": "agentrt-http_get"},
            )
        return self._session

    def _check_url(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
        except ValueError:
            raise FetchRefused(f"{url!r} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise FetchRefused(f"{url!r}: only http:// and https:// URLs with a host can be fetched")
        allowed = self.options.allow_hosts
        if allowed and not any(fnmatch.fnmatchcase(host, glob) for glob in allowed):
            raise FetchRefused(f"host {host!r} is not allowed: this tool fetches only from {', '.join(allowed)}")
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return  # a name: the resolver checks the addresses it resolves to
        if not self.options.allow_private and not is_public(literal):
            raise FetchRefused(f"address {literal} is private, loopback or link-local: refused")

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.options.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise FetchRefused(f"the body is {response.content_length} bytes, over this tool's limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise FetchRefused(f"the body is over this tool's limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _text(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know: the bytes as UTF-8, undecodable ones replaced
        return body.decode("utf-8", errors="replace")


@functools.cache
def _resolver_class() -> type[Any]:
    """aiohttp's threaded resolver, dropping the addresses the toolkit may not reach (made on first use:
    aiohttp is imported lazily)."""
    from aiohttp.resolver import ThreadedResolver

    class Checked(ThreadedResolver):
        def __init__(self, allow_private: bool) -> None:
            super().__init__()
            self.allow_private = allow_private

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            results: list[ResolveResult] = await super().resolve(host, port, family)
            if self.allow_private:
                return results
            public = [r for r in results if is_public(ipaddress.ip_address(r["host"]))]
            if not public:
                raise FetchRefused(f"host {host!r} resolves only to private, loopback or link-local addresses")
            return public

    return Checked


def http_get_tools(options: HttpGetOptions) -> tuple[list[Tool[..., Any]], HttpGetClient]:
    """The ``fetch`` tool, and the client the toolkit closes when it stops."""
    client = HttpGetClient(options)

    async def fetch(url: str) -> dict[str, Any]:
        """Fetch a web page or API response with HTTP GET; returns the final URL, status, content type and body.

        Args:
            url: An http:// or https:// URL.
        """
        return await client.fetch(url)

    return [Tool.from_function(fetch, name="fetch")], client
