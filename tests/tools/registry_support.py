"""Helpers for the tool registry tests: toolkit files written next to a config, and that config.
(A plain module imported as ``registry_support``: the test folders are not packages.)"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

SUPPORT_TOOLS = '''
from agentrt.tools import tool

CALLS = []


@tool
def lookup_order(order_id: str) -> dict:
    """Look up an order.

    Args:
        order_id: The order's id, e.g. A-1.
    """
    CALLS.append(order_id)
    return {"id": order_id, "status": "shipped"}


@tool
async def refund(order_id: str, amount: float) -> str:
    """Refund part of an order."""
    return f"refunded {amount:.2f} on {order_id}"


def not_a_tool(x: int) -> int:
    return x
'''

SLOW_TOOLS = '''
import asyncio
from agentrt.tools import tool


@tool
async def sleepy(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "awake"
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def write_config(folder: Path, config: dict[str, Any], name: str = "agentrt.yaml") -> Path:
    """``config`` as YAML in ``folder``, with console logging off and a store of its own there."""
    data = {"logging": {"console": {"format": "off"}}, "store": {"url": "sqlite:///rt.db"}, **config}
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


ASKER_AGENT = '''
from agentrt.agents import Activity, Agent, AgentContext


class Asker(Agent[dict]):
    """Passes its payload to the model, with the type's default tools (or the tools the payload names)."""

    async def handle(self, activity: Activity, ctx: AgentContext[dict]) -> str:
        options = {"tools": activity.payload["tools"]} if "tools" in activity.payload else {}
        return (await ctx.generate(activity.payload["text"], **options)).text
'''


def fake_model_config(base_url: str, tmp_path: Path) -> dict[str, Any]:
    """One OpenAI-format model, ``primary``, on a FakeUpstream, with a log file to read events from."""
    return {
        "logging": {"console": {"format": "off"}, "file": {"path": str(tmp_path / "log.jsonl")}},
        "providers": {
            "oai": {
                "kind": "openai",
                "api_key": "sk-test-key-0123456789",
                "base_url": base_url,
                "timeout": "30s",
                "retry": {"attempts": 1},
            }
        },
        "models": {
            "primary": {
                "provider": "oai",
                "name": "gpt-test",
                "capabilities": ["chat", "tools", "streaming"],
                "pricing": {"input": 1.0, "output": 2.0},
            }
        },
    }
