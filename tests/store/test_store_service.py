"""The store's runtime services: opened at start; at stop, the ledger and audit rows written before the store closes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agentrt.config import Config
from agentrt.services import ServiceContainer
from agentrt.store import (
    AuditRecord,
    AuditTrail,
    Store,
    UsageLedger,
    UsageRecord,
    audit_service,
    ledger_service,
    store_service,
)


def _container(config: Config) -> ServiceContainer:
    container = ServiceContainer()
    container.provide(Config, config, name="config")
    for definition in (store_service, ledger_service, audit_service):
        container.register(definition)
    return container


async def test_the_services_start_and_stop_in_order_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runtime.db"
    container = _container(Config.model_validate({"store": {"url": f"sqlite:///{path}"}}))
    await container.start()
    store = container.get(Store)
    assert store.is_open
    ledger, audit = container.get(UsageLedger), container.get(AuditTrail)
    assert ledger.store is store
    assert audit.store is store
    for i in range(100):
        ledger.record(UsageRecord(model="m", provider="p", operation="generate", input_tokens=i))
        audit.record(AuditRecord(decision="allow", user="alice"))
    await container.stop()
    assert not store.is_open
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*), SUM(input_tokens) FROM agentrt_usage").fetchone() == (100, 4950)
        assert conn.execute("SELECT COUNT(*) FROM agentrt_audit").fetchone() == (100,)
        components = conn.execute("SELECT DISTINCT component FROM agentrt_schema ORDER BY component").fetchall()
    assert components == [("audit",), ("usage",)]


async def test_a_config_built_in_code_with_the_default_store_url_opens_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    container = _container(Config())
    await container.start()
    try:
        assert container.get(Store).url_for_logs == f"sqlite:///{tmp_path}/agentrt.db"
    finally:
        await container.stop()
    assert (tmp_path / "agentrt.db").is_file()


def test_the_store_package_resolves_its_services_lazily() -> None:
    code = "import sys, agentrt.store; print('agentrt.services' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]
