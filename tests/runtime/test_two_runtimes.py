"""Two runtimes in one process: each keeps its log file, its level and the redaction of its secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from agentrt import Runtime

FIRST_KEY = "sk-first-runtime-key-0123456789"
SECOND_KEY = "sk-second-runtime-key-987654321"


def _config(tmp_path: Path, name: str, key: str, level: str) -> dict[str, Any]:
    return {
        "runtime": {"name": name},
        "store": {"url": "memory://"},
        "logging": {"level": level, "console": {"format": "off"}, "file": {"path": str(tmp_path / f"{name}.jsonl")}},
        "providers": {"p": {"kind": "openai", "api_key": key, "base_url": "http://127.0.0.1:9/v1"}},
    }


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


async def test_a_second_runtime_keeps_the_first_ones_sink_level_and_redaction(tmp_path: Path) -> None:
    log = structlog.get_logger("agentrt.test.two")
    async with Runtime.open(_config(tmp_path, "first", FIRST_KEY, "info"), plugins=False) as first:
        async with Runtime.open(_config(tmp_path, "second", SECOND_KEY, "warning"), plugins=False):
            log.info("both_open", detail=f"key {FIRST_KEY} and {SECOND_KEY}")
        log.info("second_closed", detail=f"key {FIRST_KEY}")
        log.debug("below_the_first_ones_level")
        first.logging.flush()

    first_events = [r["event"] for r in _records(tmp_path / "first.jsonl")]
    assert "both_open" in first_events
    assert "second_closed" in first_events
    assert "below_the_first_ones_level" not in first_events
    second_events = [r["event"] for r in _records(tmp_path / "second.jsonl")]
    assert "both_open" not in second_events  # info is below the second one's level
    for name in ("first.jsonl", "second.jsonl"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert FIRST_KEY not in text, name
        assert SECOND_KEY not in text, name
