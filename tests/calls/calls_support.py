"""Helpers for the call-pipeline tests: a runtime whose providers point at a FakeUpstream.
(A plain module imported as ``calls_support``: the test folders are not packages.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from agentrt import Runtime
from agentrt.calls import Admission
from agentrt.testing import FakeUpstream
from agentrt.types import Usage

FAST_RETRY = {"attempts": 3, "backoff": "1ms", "max_backoff": "5ms"}


def runtime_config(up: FakeUpstream, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Two providers on one fake upstream (OpenAI and Anthropic formats) and three models."""
    config: dict[str, Any] = {
        "logging": {"console": {"format": "off"}, "file": {"path": str(tmp_path / "log.jsonl")}},
        "providers": {
            "oai": {
                "kind": "openai",
                "api_key": "sk-test-key-0123456789",
                "base_url": up.openai_base_url,
                "timeout": "30s",  # the strict fake validates its first request slowly (it imports the SDK types)
                "retry": FAST_RETRY,
                "breaker": {"failures": 50, "cooldown": "30s"},
            },
            "ant": {
                "kind": "anthropic",
                "api_key": "sk-ant-test-key-0123456789",
                "base_url": up.anthropic_base_url,
                "timeout": "30s",  # the strict fake validates its first request slowly (it imports the SDK types)
                "retry": FAST_RETRY,
            },
        },
        "models": {
            "primary": {
                "provider": "oai",
                "name": "gpt-test",
                "capabilities": ["chat", "tools", "json", "streaming", "embeddings"],
                "context_window": 1000,
                "pricing": {"input": 1.0, "output": 2.0},
                "fallbacks": ["backup"],
                "aliases": ["default"],
                "params": {"temperature": 0.3},
            },
            "backup": {
                "provider": "ant",
                "name": "claude-test",
                "capabilities": ["chat", "tools", "json", "streaming"],
                "pricing": {"input": 3.0, "output": 4.0},
            },
            "plain": {
                "provider": "oai",
                "name": "gpt-plain",
                "capabilities": ["chat"],
                "pricing": {"input": 1.0, "output": 0.0},
            },
        },
    }
    for key, value in overrides.items():
        config[key] = value
    return config


def open_runtime(up: FakeUpstream, tmp_path: Path, **overrides: Any) -> Runtime:
    return Runtime.open(runtime_config(up, tmp_path, **overrides), plugins=False)


def log_events(rt: Runtime, name: str) -> list[dict[str, Any]]:
    rt.logging.flush()
    assert rt.config.logging.file is not None
    lines = rt.config.logging.file.path.read_bytes().splitlines()
    return [r for r in map(orjson.loads, lines) if r["event"] == name]


class RecordingPolicy:
    """A PolicyHook that admits everything and records what it was told, for assertions."""

    def __init__(self) -> None:
        self.admitted: list[Admission] = []
        self.settled: list[tuple[object, Usage, float | None]] = []
        self.released: list[object] = []

    async def admit(self, admission: Admission) -> object:
        self.admitted.append(admission)
        return f"reservation-{len(self.admitted)}"

    async def settle(self, reservation: object | None, usage: Usage, cost: float | None) -> None:
        self.settled.append((reservation, usage, cost))

    async def release(self, reservation: object | None) -> None:
        self.released.append(reservation)


class ScriptedClient:
    """A provider client answering from a script, for what a FakeUpstream cannot act out:
    a stream that trickles for ever, refusals, an upstream that ignores the output cap."""

    def __init__(
        self,
        *,
        response: Any = None,
        events: list[Any] | None = None,
        pause: float = 0.0,
        endless: Any = None,
    ) -> None:
        self.response = response
        self.events = list(events or [])
        self.pause = pause  # between stream events
        self.endless = endless  # an event repeated for ever after the scripted ones
        self.requests: list[Any] = []
        self.closed = 0

    name = "scripted"
    kind = "scripted"

    async def complete(self, request: Any) -> Any:
        self.requests.append(request)
        return self.response

    async def stream(self, request: Any) -> Any:
        import asyncio

        self.requests.append(request)
        try:
            for event in self.events:
                await asyncio.sleep(self.pause)
                yield event
            while self.endless is not None:
                await asyncio.sleep(self.pause)
                yield self.endless
        finally:
            self.closed += 1


class OneClientRegistry:
    """Stands in for the ProviderRegistry: every provider name gets the same client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, name: str) -> Any:
        return self.client


def use_client(rt: Runtime, client: Any) -> None:
    rt.calls.providers = OneClientRegistry(client)  # type: ignore[assignment]
