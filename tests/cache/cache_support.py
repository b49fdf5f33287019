"""Helpers for the cache tests: a runtime with the response cache on, its provider a FakeUpstream.
(A plain module imported as ``cache_support``: the test folders are not packages.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentrt import Runtime
from agentrt.store import UsageLedger
from agentrt.testing import FakeUpstream


def cache_config(
    up: FakeUpstream, tmp_path: Path, cache: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Provider ``oai`` (OpenAI format) on the fake upstream; model ``m`` (alias ``fast``); cache on, in memory."""
    config: dict[str, Any] = {
        "logging": {"console": {"format": "off"}},
        "store": {"url": f"sqlite:///{tmp_path / 'agentrt.db'}"},
        "providers": {
            "oai": {
                "kind": "openai",
                "api_key": "sk-test-key-0123456789",
                "base_url": up.openai_base_url,
                "timeout": "30s",
                "retry": {"attempts": 1},
            }
        },
        "models": {
            "m": {
                "provider": "oai",
                "name": "gpt-test",
                "capabilities": ["chat", "tools", "json", "streaming"],
                "pricing": {"input": 1.0, "output": 2.0},
                "aliases": ["fast"],
            }
        },
        "policies": {"backend": "memory"},
        "cache": {"enabled": True, **(cache or {})},
    }
    config.update(overrides)
    return config


def open_runtime(up: FakeUpstream, tmp_path: Path, cache: dict[str, Any] | None = None, **overrides: Any) -> Runtime:
    return Runtime.open(cache_config(up, tmp_path, cache, **overrides), plugins=False)


async def ledger_rows(rt: Runtime) -> list[tuple[Any, ...]]:
    """(tenant, input tokens, output tokens, cost, cached, outcome) of every ledger row, in order."""
    ledger = rt.services.get(UsageLedger)
    await ledger.flush()
    rows = await ledger.store.fetchall(
        "SELECT tenant, input_tokens, output_tokens, cost, cached, outcome FROM agentrt_usage ORDER BY id"
    )
    return [(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]
