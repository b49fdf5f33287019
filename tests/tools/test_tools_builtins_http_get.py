"""The http_get built-in against real loopback servers: allowlist, private addresses, redirects, size, time."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from agentrt.config._tools import HttpGetOptions
from agentrt.tools.builtins import http_get
from agentrt.tools.builtins.http_get import FetchRefused, HttpGetClient


async def serve(host: str, routes: Callable[[web.Application], None]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to refuse up front
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"x" * 1000)
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    def routes(app: web.Application) -> None:
        app.router.add_get("/hello", hello)
        app.router.add_get("/big", big)
        app.router.add_get("/slow", slow)
        app.router.add_get("/loop", loop)
        app.router.add_get("/to-hello", redirect_to("/hello"))

    runner, base = await serve("127.0.0.1", routes)
    yield base
    await runner.cleanup()


def redirect_to(location: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def fetch(options: HttpGetOptions, url: str) -> dict[str, object]:
    client = HttpGetClient(options)
    try:
        return await client.fetch(url)
    finally:
        await client.close()


async def test_a_private_address_is_fetched_only_when_allowed(server: str) -> None:
    answer = await fetch(HttpGetOptions(allow_private=True), f"{server}/hello")
    assert answer["status"] == 200
    assert answer["content_type"] == "application/json"
    assert answer["body"] == '{"hello": "world"}'
    with pytest.raises(FetchRefused, match=r"address 127\.0\.0\.1 is private, loopback or link-local"):
        await fetch(HttpGetOptions(), f"{server}/hello")


async def test_a_name_that_resolves_to_a_private_address_is_refused(server: str) -> None:
    url = server.replace("127.0.0.1", "localhost") + "/hello"
    with pytest.raises(FetchRefused, match="'localhost' resolves only to private"):
        await fetch(HttpGetOptions(), url)
    assert (await fetch(HttpGetOptions(allow_private=True), url))["status"] == 200


async def test_the_host_allowlist(server: str) -> None:
    allowed = HttpGetOptions(allow_private=True, allow_hosts=["127.0.0.*"])
    assert (await fetch(allowed, f"{server}/hello"))["status"] == 200
    with pytest.raises(
        FetchRefused, match=r"host 'localhost' is not allowed: this tool fetches only from api\.example\.com"
    ):
        await fetch(
            HttpGetOptions(allow_private=True, allow_hosts=["api.example.com"]),
            server.replace("127.0.0.1", "localhost"),
        )


async def test_the_size_cap_is_enforced_while_reading(server: str) -> None:
    with pytest.raises(FetchRefused, match="over this tool's limit of 10000 bytes"):
        await fetch(HttpGetOptions(allow_private=True, max_bytes=10_000), f"{server}/big")
    answer = await fetch(HttpGetOptions(allow_private=True, max_bytes=40_000), f"{server}/big")
    assert len(str(answer["body"])) == 40_000


async def test_the_timeout_bounds_the_fetch(server: str) -> None:
    with pytest.raises(TimeoutError):
        await fetch(HttpGetOptions(allow_private=True, timeout=0.2), f"{server}/slow")


async def test_redirects_are_followed_and_bounded(server: str) -> None:
    answer = await fetch(HttpGetOptions(allow_private=True), f"{server}/to-hello")
    assert answer["url"] == f"{server}/hello"
    with pytest.raises(FetchRefused, match="more than 5 redirects"):
        await fetch(HttpGetOptions(allow_private=True), f"{server}/loop")


async def test_a_redirect_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two loopback servers; the classifier is told 127.0.0.2 is public, so only the redirect's target is private.
    public = ipaddress.ip_address("127.0.0.2")
    monkeypatch.setattr(http_get, "is_public", lambda address: address == public)
    inner, inner_base = await serve("127.0.0.1", lambda app: app.router.add_get("/secret", ok))

    def outer_routes(app: web.Application) -> None:
        app.router.add_get("/go", redirect_to(f"{inner_base}/secret"))
        app.router.add_get("/page", ok)

    outer, outer_base = await serve("127.0.0.2", outer_routes)
    try:
        assert (await fetch(HttpGetOptions(), f"{outer_base}/page"))["body"] == "ok"  # the "public" one works
        with pytest.raises(FetchRefused, match=r"address 127\.0\.0\.1 is private"):
            await fetch(HttpGetOptions(), f"{outer_base}/go")
    finally:
        await outer.cleanup()
        await inner.cleanup()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "http:///nohost", "not a url"])
async def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(FetchRefused, match="only http:// and https://"):
        await fetch(HttpGetOptions(), url)


def test_the_address_classes() -> None:
    refused = [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.5",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ]
    for address in refused:
        assert not http_get.is_public(ipaddress.ip_address(address)), address
    for address in ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"]:
        assert http_get.is_public(ipaddress.ip_address(address)), address


async def test_a_body_in_an_unknown_charset_is_read_as_utf8() -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.Response(body="café".encode(), headers={"Content-Type": "text/plain; charset=klingon"})

    runner, base = await serve("127.0.0.1", lambda app: app.router.add_get("/odd", odd))
    try:
        assert (await fetch(HttpGetOptions(allow_private=True), f"{base}/odd"))["body"] == "café"
    finally:
        await runner.cleanup()
