"""Through the gateway: a model whose deployments are all at their limit answers 429 with Retry-After."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from routing_support import runtime_config

from agentrt import Runtime
from agentrt.server import HttpServer, hash_key
from agentrt.testing import FakeUpstream

KEY = "sk-agentrt-routeKEY0123456789abcdefghijklm"


async def test_every_deployment_busy_is_a_429_with_retry_after(up: FakeUpstream, tmp_path: Path) -> None:
    model = {
        "deployments": [
            {"provider": "east", "name": "gpt-a", "rpm": 1},
            {"provider": "west", "name": "claude-b", "rpm": 1},
        ]
    }
    config = runtime_config(up, tmp_path, model)
    config["server"] = {"host": "127.0.0.1", "port": 8080, "api_keys": [{"key_sha256": hash_key(KEY), "user": "u"}]}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    statuses = []
    async with Runtime.open(config, plugins=False) as rt:
        server = HttpServer(rt, port=0)
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(3):
                    async with session.post(
                        f"{server.url}/v1/chat/completions", json=body, headers=headers
                    ) as response:
                        statuses.append(response.status)
                        last_headers, last_body = response.headers, await response.json()
        finally:
            await server.stop(1.0)
    assert statuses == [200, 200, 429]
    assert 45 <= int(last_headers["Retry-After"]) <= 60
    assert last_body["error"]["type"] == "rate_limit_error"
    assert "at its limit" in last_body["error"]["message"]
    assert sorted(r.model for r in up.requests) == ["claude-b", "gpt-a"]
