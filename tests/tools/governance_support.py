"""Helpers for the governed-tool-call tests (a plain module: the test folders are not packages).

``shared_engines`` is a fixture (import it into a test module) that opens policy engines on one backend
kind — memory, sqlite or a real Redis — whose counters are shared between the engines it makes, as
several processes share them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from agentrt.calls.principal import Principal
from agentrt.config import PoliciesSection
from agentrt.policy import PolicyBackend, PolicyEngine
from agentrt.policy.backends import MemoryBackend

MakeEngines = Callable[[PoliciesSection, int], Awaitable[list[PolicyEngine]]]

INTERN = Principal("ivan", "interns")
ALICE = Principal("alice", "acme")
BOB = Principal("bob", "acme")

NOW = 1_750_000_000.0


def policies(**values: Any) -> PoliciesSection:
    """A ``policies`` section counting in memory unless it says otherwise."""
    values.setdefault("backend", "memory")
    return PoliciesSection.model_validate(values)


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def shared_engines(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeEngines]:
    """``await shared_engines(section, n)``: ``n`` open engines whose backends share their counters."""
    kind: str = request.param
    cleanups: list[Callable[[], Awaitable[None]]] = []
    prefix = f"test:{uuid.uuid4().hex[:8]}:"

    async def backend() -> PolicyBackend:
        if kind == "memory":
            return MemoryBackend()
        if kind == "sqlite":
            from agentrt.policy.backends.sqlite import SqliteBackend
            from agentrt.store import open_store

            store = open_store(f"sqlite:///{tmp_path / 'policy.db'}")
            await store.open()
            cleanups.append(store.close)
            return SqliteBackend(store)
        from agentrt.policy.backends.redis import RedisBackend

        return RedisBackend(request.getfixturevalue("redis_url"), key_prefix=prefix)

    async def make(section: PoliciesSection, n: int) -> list[PolicyEngine]:
        engines: list[PolicyEngine] = []
        for _ in range(1 if kind == "memory" else n):  # memory counters live in one process: one engine
            engine = PolicyEngine(section, await backend(), clock=lambda: NOW)
            await engine.open()
            cleanups.append(engine.close)
            engines.append(engine)
        return [engines[i % len(engines)] for i in range(n)]

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


OPS_TOOLS = '''
import asyncio

from agentrt.tools import tool

deployed: list[str] = []


@tool
def deploy(target: str, token: str) -> str:
    """Deploy to a target.

    Args:
        target: Where to deploy.
        token: The deploy token.
    """
    deployed.append(target)
    return f"deployed to {target}"


@tool
def status() -> str:
    """The deploy status."""
    return "green"


@tool
def explode(order: str) -> str:
    """Always fails."""
    raise RuntimeError(f"database down while reading {order}")


@tool
async def slow(seconds: float) -> str:
    """Sleeps."""
    await asyncio.sleep(seconds)
    return "woke up"
'''


def ops_config(tmp_path: Path, *, ops: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    """A runtime config with the offline provider, a SQLite store in ``tmp_path`` and toolkit ``ops`` (a file)."""
    module = tmp_path / "ops_tools.py"
    module.write_text(OPS_TOOLS)
    toolkit: dict[str, Any] = {"python": str(module), "secret_fields": ["token"]}
    toolkit.update(ops or {})
    config: dict[str, Any] = {
        "providers": {"offline": {"kind": "local"}},
        "models": {"m": {"provider": "offline", "name": "m", "capabilities": ["chat", "tools"]}},
        "store": {"url": f"sqlite:///{tmp_path / 'agentrt.db'}"},
        "logging": {"console": {"format": "off"}},
        "tools": {"ops": toolkit},
    }
    config.update(sections)
    return config


def fake_config(up: Any, tmp_path: Path, *, ops: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    """:func:`ops_config` with model ``gpt`` on an OpenAI-format FakeUpstream ``up`` (the tool loop) and logs in a
    file."""
    config = ops_config(tmp_path, ops=ops, **sections)
    config["providers"] = {
        "oai": {
            "kind": "openai",
            "api_key": "sk-test-key-0123456789",
            "base_url": up.openai_base_url,
            "timeout": "30s",  # the strict fake validates its first request slowly (it imports the SDK types)
            "retry": {"attempts": 2, "backoff": "1ms", "max_backoff": "2ms"},
        }
    }
    config["models"] = {
        "gpt": {
            "provider": "oai",
            "capabilities": ["chat", "tools", "streaming"],
            "pricing": {"input": 1.0, "output": 2.0},
        }
    }
    if "logging" not in sections:
        config["logging"] = {"console": {"format": "off"}, "file": {"path": str(tmp_path / "log.jsonl")}}
    return config
