"""Helpers for the /mcp tests: a served runtime with tools, agents and prompts, and the official
``mcp`` clients connected to it. (A plain module imported as ``server_mcp_support``.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from server_support import USER_KEY, Served, api_keys, server_config
from test_server_agents import Tallier, agents_services

from agentrt import Runtime
from agentrt.agents import Activity, Agent, AgentContext, AgentRuntime
from agentrt.server import HttpServer, hash_key
from agentrt.testing import FakeUpstream

# Shaped like real keys, so that a leak into a log or an error would be easy to spot.
CHAT_ONLY_KEY = "sk-agentrt-chatonlyKEY0123456789abcdefghi"
OTHER_TENANT_KEY = "sk-agentrt-globexKEY0123456789abcdefghijk"

TOOLS_MODULE = '''
from agentrt.tools import tool


@tool
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    return text.upper() + "!"


@tool
def order_total(items: list[float], tax: float = 0.0) -> dict[str, float]:
    """The total of an order."""
    total = sum(items) * (1 + tax)
    return {"total": round(total, 2)}
'''


OPS_MODULE = '''
from agentrt.tools import tool


@tool
def deploy(target: str) -> str:
    """Deploy to a target (needs a person's approval)."""
    return f"deployed {target}"
'''


def mcp_config(up: FakeUpstream, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """server_config with: toolkits `calc` (built-in calculator), `shop` (a Python module) and `ops`
    (a Python module whose calls need approval), a
    policy rule that refuses `shop.order_total` to tenant `acme`, a prompt, and two more keys."""
    (tmp_path / "shop_tools.py").write_text(TOOLS_MODULE)
    (tmp_path / "ops_tools.py").write_text(OPS_MODULE)
    keys = [
        *api_keys(),
        {
            "key_sha256": hash_key(CHAT_ONLY_KEY),
            "name": "chat-only",
            "user": "carol",
            "tenant": "acme",
            "scopes": ["chat"],
        },
        {"key_sha256": hash_key(OTHER_TENANT_KEY), "name": "globex", "user": "gus", "tenant": "globex"},
    ]
    config = server_config(
        up,
        tmp_path,
        store={"url": f"sqlite:///{tmp_path / 'mcp.db'}"},
        tools={
            "calc": {"builtin": "calculator"},
            "shop": {"python": str(tmp_path / "shop_tools.py")},
            "ops": {"python": str(tmp_path / "ops_tools.py"), "approval": "required"},
        },
        prompts={
            "triage": {
                "description": "Sort a support ticket",
                "inputs": {
                    "ticket": {"type": "str", "description": "the customer's text"},
                    "urgent": {"type": "bool", "default": False},
                },
                "system": "You sort tickets.",
                "user": "{{ ticket }}{% if urgent %} (urgent){% endif %}",
            }
        },
        policies={
            "rules": [
                {
                    "name": "acme-no-orders",
                    "effect": "deny",
                    "match": {"tenants": ["acme"], "tools": ["shop.order_*"]},
                    "reason": "acme may not total orders here",
                }
            ]
        },
    )
    config["server"] = {**config["server"], "api_keys": keys}
    config.update(overrides)
    return config


class Asker(Agent[None]):
    """Puts the message to the default model and answers with its reply."""

    async def handle(self, activity: Activity, ctx: AgentContext[None]) -> Any:
        completion = await ctx.generate("default", str(activity.payload))
        return completion.text


@contextlib.asynccontextmanager
async def mcp_served(up: FakeUpstream, tmp_path: Path, **overrides: Any) -> AsyncIterator[Served]:
    """A runtime configured by :func:`mcp_config`, with the agent types `tallier` and `asker`, on a loopback port."""
    Tallier.gate = asyncio.Event()  # a test that opened it must not open it for the next one
    rt = Runtime.open(mcp_config(up, tmp_path, **overrides), plugins=False)
    agents_services(rt)
    async with rt:
        rt.services.get(AgentRuntime).register("tallier", Tallier)
        rt.services.get(AgentRuntime).register("asker", Asker)
        async with HttpServer(rt, port=0) as server:
            yield Served(rt, server, up)


@contextlib.asynccontextmanager
async def mcp_client(url: str, key: str = USER_KEY) -> AsyncIterator[Client]:
    """The SDK's high-level Client (mode auto: it probes ``server/discover`` and speaks 2026-07-28)."""
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(20.0)) as http,
        Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def mcp_session(url: str, key: str | None = USER_KEY) -> AsyncIterator[ClientSession]:
    """An initialized ClientSession (the initialize handshake) to ``url``/mcp, sending ``key``."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with (
        create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(20.0)) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session
