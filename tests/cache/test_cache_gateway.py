"""The gateway's Cache-Control on chat completions: no-cache stores without reading, no-store does neither."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cache_support import cache_config, ledger_rows

from agentrt import Runtime
from agentrt.server import HttpServer, hash_key
from agentrt.testing import FakeUpstream, Reply

KEY = "sk-agentrt-cacheKEY0123456789abcdefghijklm"


@pytest.fixture
async def gateway(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[tuple[Runtime, str]]:
    config = cache_config(up, tmp_path)
    config["server"] = {
        "host": "127.0.0.1",
        "port": 8080,
        "api_keys": [{"key_sha256": hash_key(KEY), "tenant": "acme"}],
    }
    async with Runtime.open(config, plugins=False) as rt:
        server = HttpServer(rt, port=0)
        await server.start()
        try:
            yield rt, server.url
        finally:
            await server.stop(1.0)


async def chat(url: str, text: str, cache_control: str | None = None, *, stream: bool = False) -> Any:
    headers = {"Authorization": f"Bearer {KEY}"}
    if cache_control is not None:
        headers["Cache-Control"] = cache_control
    body = {"model": "m", "messages": [{"role": "user", "content": text}], "stream": stream}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        if stream:
            return await response.text()
        return (await response.json())["choices"][0]["message"]["content"]


async def test_cache_control_on_chat_completions(gateway: tuple[Runtime, str], up: FakeUpstream) -> None:
    rt, url = gateway
    up.script(Reply("first"), Reply("second"), Reply("third"), model="gpt-test")
    assert await chat(url, "q") == "first"  # stored
    assert await chat(url, "q") == "first"  # a hit
    assert await chat(url, "q", "no-store") == "second"  # neither read nor written
    assert await chat(url, "q") == "first"
    assert await chat(url, "q", "no-cache") == "third"  # not read, but written
    assert await chat(url, "q") == "third"
    assert "third" in await chat(url, "q", stream=True)  # a stream from the cache
    assert len(up.requests) == 3
    rows = await ledger_rows(rt)
    assert [row[4] for row in rows] == [False, True, False, True, False, True, True]
    assert all(row[0] == "acme" and (not row[4] or row[3] == 0.0) for row in rows)
