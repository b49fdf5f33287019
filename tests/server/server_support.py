"""Helpers for the server tests: a runtime whose provider is a FakeUpstream, served on loopback.
(A plain module imported as ``server_support``: the test folders are not packages.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from agentrt import Runtime
from agentrt.server import HttpServer, hash_key
from agentrt.testing import FakeUpstream

# Shaped like real keys, so that a leak into a log or an error would be easy to spot.
USER_KEY = "sk-agentrt-userKEY0123456789abcdefghijklmn"
ADMIN_KEY = "sk-agentrt-adminKEY0123456789abcdefghijkl"
UPSTREAM_KEY = "sk-upstream-0123456789SECRET"

FAST_RETRY = {"attempts": 2, "backoff": "1ms", "max_backoff": "5ms"}


def api_keys() -> list[dict[str, Any]]:
    return [
        {"key_sha256": hash_key(USER_KEY), "name": "alice-laptop", "user": "alice", "tenant": "acme", "tags": ["beta"]},
        {"key_sha256": hash_key(ADMIN_KEY), "user": "root", "admin": True},
    ]


def server_config(up: FakeUpstream, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """One OpenAI-format provider on the fake upstream, a chat model (alias ``default``), a plain
    chat-only model and an embedding model; two API keys; JSON logs in a file."""
    config: dict[str, Any] = {
        "runtime": {"shutdown_timeout": "5s"},
        "logging": {"console": {"format": "off"}, "file": {"path": str(tmp_path / "log.jsonl")}},
        "providers": {
            "oai": {
                "kind": "openai",
                "api_key": UPSTREAM_KEY,
                "base_url": up.openai_base_url,
                "timeout": "5s",
                "retry": FAST_RETRY,
                "breaker": {"failures": 1000, "cooldown": "30s"},
            },
        },
        "models": {
            "gpt-test": {
                "provider": "oai",
                "capabilities": ["chat", "tools", "json", "vision", "streaming"],
                "context_window": 100000,
                "pricing": {"input": 1.0, "output": 2.0},
                "aliases": ["default"],
            },
            "plain": {
                "provider": "oai",
                "name": "gpt-plain",
                "capabilities": ["chat"],
                "pricing": {"input": 1.0, "output": 1.0},
            },
            "embedder": {
                "provider": "oai",
                "name": "emb-test",
                "capabilities": ["embeddings"],
                "pricing": {"input": 0.1, "output": 0.0},
            },
        },
        "server": {"host": "127.0.0.1", "port": 8080, "api_keys": api_keys(), "max_body": "64KB"},
    }
    config.update(overrides)
    return config


@dataclass
class Served:
    rt: Runtime
    server: HttpServer
    up: FakeUpstream

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.asynccontextmanager
async def serving(
    up: FakeUpstream, tmp_path: Path, *, overrides: Sequence[tuple[type[Any], Any]] = (), **config: Any
) -> AsyncIterator[Served]:
    """A running runtime (configured by :func:`server_config`) served on a free loopback port."""
    rt = Runtime.open(server_config(up, tmp_path, **config), plugins=False)
    for key, value in overrides:
        rt.override(key, value)
    async with rt:
        server = HttpServer(rt, port=0)
        await server.start()
        try:
            yield Served(rt, server, up)
        finally:
            await server.stop(1.0)


def log_records(rt: Runtime) -> list[dict[str, Any]]:
    rt.logging.flush()
    assert rt.config.logging.file is not None
    return [orjson.loads(line) for line in rt.config.logging.file.path.read_bytes().splitlines()]


def auth(key: str = USER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
