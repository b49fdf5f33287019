"""The live sampler: rates and percentiles from the call metrics, and the rollup started with the server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from ui_pages_support import dashboard_served

from agentrt.observability.metrics import Metrics
from agentrt.server.ui.live import Sampler, quantile, read_sample
from agentrt.store import Store, UsageLedger, UsageRecord, open_store
from agentrt.store.audit import AuditTrail
from agentrt.store.usage_rollup import ROLLED_TABLE
from agentrt.testing import FakeUpstream


def test_quantiles_interpolate_within_the_buckets_between_two_samples() -> None:
    older = ((0.1, 10.0), (0.5, 10.0), (1.0, 10.0), (float("inf"), 10.0))
    newer = ((0.1, 10.0), (0.5, 60.0), (1.0, 110.0), (float("inf"), 110.0))  # 50 in (0.1, 0.5], 50 in (0.5, 1]
    assert quantile(0.5, older, newer) == pytest.approx(0.5)
    assert quantile(0.25, older, newer) == pytest.approx(0.3)
    assert quantile(0.95, older, newer) == pytest.approx(0.95)
    assert quantile(0.5, newer, newer) is None  # no call between the two
    slow = ((1.0, 0.0), (float("inf"), 4.0))
    assert quantile(0.5, (), slow) == 1.0  # past the last bound: the bound is what is known


def _call(metrics: Metrics, latency: float, outcome: str = "ok") -> None:
    assert metrics.calls is not None
    if outcome == "ok":
        metrics.calls.record_success(
            model="m", provider="p", operation="generate", input_tokens=10, output_tokens=5, cost=0.25, latency=latency
        )
    else:
        metrics.calls.record_failure(model="m", provider="p", operation="generate", error_type=outcome, latency=latency)


async def test_the_sampler_turns_counters_into_rates_and_windows() -> None:
    metrics = Metrics()
    sampler = Sampler(metrics.registry, interval=1.0, version=lambda: 3)
    sampler.sample(now=100.0)
    for latency in (0.02, 0.02, 0.2, 2.0):
        _call(metrics, latency)
    _call(metrics, 0.01, outcome="ProviderTimeout")
    sampler.sample(now=102.0)
    point = sampler.latest()
    assert point is not None
    assert (point.calls, point.errors) == (5, 1)
    assert point.calls_per_s == pytest.approx(2.5)
    assert point.errors_per_s == pytest.approx(0.5)
    assert point.cost_per_s == pytest.approx(0.5)
    assert point.p50 is not None
    assert 0.01 < point.p50 <= 0.025
    assert point.p95 is not None
    assert 1.0 < point.p95 <= 2.5
    window = sampler.window()
    assert (window["calls"], window["errors"], window["cost"]) == (5, 1, pytest.approx(1.0))
    assert window["models"]["m@p"]["calls"] == 5
    assert sampler.versions == {3: 100.0}
    waiting = asyncio.ensure_future(sampler.next_point())
    await asyncio.sleep(0)
    assert not waiting.done()
    sampler.sample(now=103.0)
    assert (await asyncio.wait_for(waiting, 1)) == sampler.latest()


def test_a_sample_of_an_idle_registry_is_zero() -> None:
    sample = read_sample(Metrics().registry, 1.0)
    assert (sample.calls, sample.errors, sample.cost, sample.buckets) == (0.0, 0.0, 0.0, ())


async def test_the_server_rolls_up_the_closed_days_it_finds_at_start(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'ui.db'}") as store:
        audit = AuditTrail(store)
        await audit.start()
        ledger = UsageLedger(store, audit=audit)
        await ledger.start()
        for days_back in (1, 2, 3):
            ledger.record(
                UsageRecord(
                    ts=time.time() - days_back * 86400 - 3600,
                    model="gpt-test",
                    provider="oai",
                    operation="generate",
                    tenant="acme",
                    cost=1.0,
                )
            )
        await ledger.close()
        await audit.close()
    async with FakeUpstream() as up, dashboard_served(up, tmp_path) as served:
        store = served.rt.services.get(Store)
        for _ in range(200):
            row = await store.fetchone(f"SELECT COUNT(*) FROM {ROLLED_TABLE}")
            if row is not None and row[0] >= 3:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the server never rolled up the closed days")


async def test_a_store_the_dashboard_cannot_migrate_leaves_the_api_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui_pages_support import ADMIN_KEY, Browser

    import agentrt.store.usage_rollup as rollup

    monkeypatch.setattr(rollup, "DASHBOARD_MIGRATIONS", ["CREATE INDEX broken ON no_such_table (x)"])
    async with FakeUpstream() as up, dashboard_served(up, tmp_path) as served, Browser(served.url) as b:
        async with b.session.get(served.url + "/readyz") as ready:
            assert ready.status == 200
        await b.login(ADMIN_KEY)
        status, body, _ = await b.get("/ui/api/usage")
        assert status == 503
        assert "not ready" in body
        assert (await b.get("/ui/agents"))[0] == 200  # pages that need no store still work
