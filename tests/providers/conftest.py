"""Fixtures of the provider tests: a FakeUpstream on loopback and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from providers_support import Canned

from agentrt.config import ProviderSection
from agentrt.providers import ProviderClient, builtin_kinds
from agentrt.testing import FakeUpstream

# Shaped like a real key so that a leak would be easy to spot in any message.
API_KEY_VALUE = "sk-test-0123456789abcdefSECRET"

MakeClient = Callable[..., Any]


@pytest.fixture
def api_key() -> str:
    return API_KEY_VALUE


@pytest.fixture
async def up(api_key: str) -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(api_key=api_key) as upstream:
        yield upstream


def base_url_for(kind: str, upstream: FakeUpstream) -> str:
    return {
        "openai": upstream.openai_base_url,
        "anthropic": upstream.anthropic_base_url,
        "google": upstream.google_base_url,
    }[kind]


@pytest.fixture
async def make_client(up: FakeUpstream, api_key: str) -> AsyncIterator[MakeClient]:
    """``make_client(kind, **section fields)``: a built-in client pointed at ``up``; closed after the test."""
    clients: list[ProviderClient] = []

    def make(kind: str, **fields: Any) -> Any:
        values: dict[str, Any] = {"kind": kind, "api_key": api_key, "base_url": base_url_for(kind, up)}
        values.update(fields)
        client = builtin_kinds()[kind](f"my-{kind}", ProviderSection.model_validate(values))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def canned() -> AsyncIterator[tuple[Canned, str]]:
    """A loopback server answering every request with ``Canned``'s body, byte for byte; and its URL."""
    state = Canned()

    async def handler(request: web.Request) -> web.StreamResponse:
        state.requests.append(await request.json() if request.can_read_body else None)
        response = web.StreamResponse(status=state.status, headers={"content-type": state.content_type})
        await response.prepare(request)
        for piece in state.pieces:
            await response.write(piece)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()
