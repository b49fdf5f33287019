"""The end-to-end proof: 4 OS processes share one Redis (limits, budgets) and one SQLite ledger,
firing 2,000 real calls through the fake upstream. Neither the rpm limit nor the token budget is
exceeded, and the totals in Redis and in the ledger agree."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

from agentrt.calls import Principal
from agentrt.config import Config
from agentrt.models import ModelCatalog
from agentrt.policy import PolicyEngine
from agentrt.policy.service import open_backend
from agentrt.store import open_store
from agentrt.testing import FakeUpstream

WORKER = Path(__file__).with_name("calls_worker.py")
PROCESSES = 4
CALLS = 2000
RPM = 300
BUDGET = 20_000


def write_config(tmp_path: Path, up: FakeUpstream, redis_url: str) -> Path:
    config = {
        "logging": {"level": "warning", "console": {"format": "off"}},
        "store": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "providers": {"oai": {"kind": "openai", "api_key": "sk-e2e-0123456789", "base_url": up.openai_base_url}},
        "models": {"m": {"provider": "oai", "max_output_tokens": 50, "pricing": {"input": 1.0, "output": 2.0}}},
        "policies": {
            "backend": redis_url,
            "key_prefix": f"e2e:{tmp_path.name}:",
            "limits": [{"scope": "user", "rpm": RPM}],
            "budgets": [{"scope": "user", "period": "total", "max_tokens": BUDGET}],
        },
        "observability": {"monitor": {"enabled": False}},
    }
    path = tmp_path / "agentrt.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_workers(tmp_path: Path, redis_url: str) -> tuple[Path, list[dict[str, int]], int]:
    """Start the workers together, wait for their reports; also how many calls reached the provider."""
    with FakeUpstream.in_thread() as up:
        config = write_config(tmp_path, up, redis_url)
        workers = [
            subprocess.Popen(
                [sys.executable, str(WORKER), str(config), str(CALLS // PROCESSES), str(seed)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in range(PROCESSES)
        ]
        try:
            for worker in workers:
                assert worker.stdout is not None
                assert worker.stdout.readline() == "ready\n", worker.stderr.read() if worker.stderr else ""
            for worker in workers:  # go, all at once
                assert worker.stdin is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
            reports = []
            for worker in workers:
                out, err = worker.communicate(timeout=120)
                assert worker.returncode == 0, err
                reports.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        sent_to_provider = len(up.requests)
    return config, reports, sent_to_provider



async def test_four_processes_of_real_calls_never_exceed_the_limit_or_the_budget(
    tmp_path: Path, redis_url: str
) -> None:
    config, reports, sent_to_provider = await asyncio.to_thread(run_workers, tmp_path, redis_url)

    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report)
    assert sum(outcomes.values()) == CALLS
    # The rpm limit: exactly RPM calls of "rate" got through in the window, all others were refused.
    assert outcomes["rate:ok"] == RPM
    assert outcomes["rate:rate_limited"] == CALLS // 2 - RPM
    # The budget ran out for "spend" before its rpm limit did.
    assert outcomes["spend:over_budget"] > 0
    assert outcomes["spend:ok"] < RPM
    assert sent_to_provider == outcomes["rate:ok"] + outcomes["spend:ok"]  # refusals never reached it

    # The ledger (one SQLite file written by all four processes) has one row per answered call ...
    async with open_store(f"sqlite:///{tmp_path / 'ledger.db'}") as store:
        rows = await store.fetchall(
            "SELECT user_name, COUNT(*), SUM(input_tokens + output_tokens) FROM agentrt_usage "
            "WHERE outcome = 'ok' GROUP BY user_name ORDER BY user_name"
        )
        ledger = {user: (calls, tokens) for user, calls, tokens in rows}
    assert ledger["rate"][0] == outcomes["rate:ok"]
    assert ledger["spend"][0] == outcomes["spend:ok"]
    assert ledger["spend"][1] <= BUDGET

    # ... and Redis counted exactly the same tokens, with nothing left reserved.
    cfg = Config.model_validate(yaml.safe_load(config.read_text()))
    spec = ModelCatalog(cfg.models, cfg.providers).resolve("m")
    async with PolicyEngine(cfg.policies, open_backend(cfg.policies, None)) as engine:
        for user in ("rate", "spend"):
            explained = (await engine.explain(Principal(user), spec)).as_dict()
            (budget,) = explained["budgets"]
            assert budget["used_tokens"] == ledger[user][1], (user, budget)
            assert budget["reserved_tokens"] == 0
            assert budget["used_tokens"] <= BUDGET
