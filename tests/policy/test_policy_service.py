"""The policy as a runtime service: calls through the pipeline are refused before they reach the
provider, reloads apply new limits without losing counts, decisions reach the audit trail."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from policy_support import ALICE, PRICED, ask, policies

from agentrt import Runtime
from agentrt.calls import PolicyHook
from agentrt.config import Config
from agentrt.errors import BudgetExceeded, ConfigError, PolicyDenied, RateLimitExceeded
from agentrt.policy import PolicyEngine
from agentrt.policy.service import audit_callback, open_backend, policy_service
from agentrt.store import AuditTrail, Store, open_store
from agentrt.store.service import store_service
from agentrt.testing import FakeUpstream, Reply

sys.path.insert(0, str(Path(__file__).parents[1] / "calls"))
from calls_support import runtime_config


@pytest.fixture
async def up() -> Any:
    async with FakeUpstream() as upstream:
        yield upstream


def write_config(path: Path, up: FakeUpstream, tmp_path: Path, **policy: Any) -> Path:
    config = runtime_config(up, tmp_path)
    config["store"] = {"url": f"sqlite:///{tmp_path / 'agentrt.db'}"}
    config["policies"] = {"backend": "sqlite", **policy}
    path.write_text(json.dumps(config))
    return path


def runtime(path: Path) -> Runtime:
    rt = Runtime.open(path, plugins=False)
    rt.override(Store, store_service)  # type: ignore[type-abstract]
    rt.override(PolicyHook, policy_service)  # type: ignore[type-abstract]
    return rt


async def test_calls_over_a_limit_never_reach_the_provider_and_a_reload_keeps_the_counts(
    up: FakeUpstream, tmp_path: Path
) -> None:
    path = write_config(tmp_path / "agentrt.json", up, tmp_path, limits=[{"scope": "user", "rpm": 2}])
    up.script(*[Reply(text="ok", usage=(10, 5))] * 10)
    async with runtime(path) as rt:
        engine = rt.services.get(PolicyHook)  # type: ignore[type-abstract]
        assert isinstance(engine, PolicyEngine)
        assert engine.backend.name == "sqlite"
        await rt.generate("primary", "hi", user="alice", fallbacks=[])
        await rt.generate("primary", "hi", user="alice", fallbacks=[])
        with pytest.raises(RateLimitExceeded):
            await rt.generate("primary", "hi", user="alice", fallbacks=[])
        assert len(up.requests) == 2
        write_config(path, up, tmp_path, limits=[{"scope": "user", "rpm": 3}])
        result = await rt.reload()
        assert "policies" in result.reconfigured
        await rt.generate("primary", "hi", user="alice", fallbacks=[])  # the 3rd of 3: the count went on
        with pytest.raises(RateLimitExceeded):
            await rt.generate("primary", "hi", user="alice", fallbacks=[])
        assert len(up.requests) == 3


async def test_a_budget_settles_what_the_provider_reported(up: FakeUpstream, tmp_path: Path) -> None:
    budget = {"scope": "user", "period": "day", "max_tokens": 100}
    path = write_config(tmp_path / "agentrt.json", up, tmp_path, budgets=[budget])
    up.script(*[Reply(text="ok", usage=(30, 20))] * 10)
    async with runtime(path) as rt:
        await rt.generate("primary", "hi", user="alice", fallbacks=[], max_output_tokens=40)
        engine = rt.services.get(PolicyHook)  # type: ignore[type-abstract]
        assert isinstance(engine, PolicyEngine)
        spec = rt.calls.catalog.resolve("primary")
        explanation = await engine.explain(ALICE.__class__("alice"), spec)
        assert (explanation.budgets[0].used_tokens, explanation.budgets[0].reserved_tokens) == (50, 0)
        with pytest.raises(BudgetExceeded):  # 50 used + the estimate + 60 output tokens > 100
            await rt.generate("primary", "hi", user="alice", fallbacks=[], max_output_tokens=60)
        assert len(up.requests) == 1


async def test_backend_sqlite_with_a_postgresql_store_fails_at_validation_and_at_start(
    postgres_url: str, tmp_path: Path
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="sqlite policy backend"):
        Config.model_validate({"store": {"url": postgres_url}, "policies": {"backend": "sqlite"}})
    # A config put together without validation is still refused when the policy starts.
    config = Config.model_validate({"store": {"url": postgres_url}, "policies": {"backend": "memory"}})
    config = config.model_copy(update={"policies": policies(backend="sqlite")})
    from agentrt.observability import Metrics

    async with open_store(postgres_url) as store:
        service = policy_service(config, store, AuditTrail(store), Metrics(enabled=False))
        with pytest.raises(ConfigError, match=r"policies\.backend"):
            await anext(service)


async def test_open_backend_builds_what_the_section_names(tmp_path: Path) -> None:
    assert open_backend(policies(backend="memory"), None).name == "memory"
    assert open_backend(policies(backend="redis://127.0.0.1:6379/0", key_prefix="x:"), None).name == "redis"
    with pytest.raises(ConfigError, match="needs the store"):
        open_backend(policies(backend="sqlite"), None)


async def test_decisions_reach_the_audit_trail(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'audit.db'}") as store:
        trail = AuditTrail(store)
        await trail.start()
        section = policies(rules=[{"name": "no-bob", "effect": "deny", "match": {"users": ["bob"]}}])
        async with PolicyEngine(section, on_decision=audit_callback(trail)) as engine:
            reservation = await engine.admit(ask())
            with pytest.raises(Exception, match="no-bob"):
                await engine.admit(ask(ALICE.__class__("bob", "acme"), PRICED))
        await trail.close()
        rows = await store.fetchall("SELECT request_id, user_name, decision, rule FROM agentrt_audit ORDER BY id")
    assert (reservation.id, "alice", "allow", None) in rows
    assert any(row[1:] == ("bob", "deny", "no-bob") for row in rows)


async def test_ledger_and_audit_rows_join_on_the_calls_request_id(up: FakeUpstream, tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "agentrt.json",
        up,
        tmp_path,
        rules=[{"name": "no-bob", "effect": "deny", "match": {"users": ["bob"]}}],
    )
    up.script(*[Reply(text="ok", usage=(10, 5))] * 3)
    async with runtime(path) as rt:
        completions = [await rt.generate("primary", "hi", user="alice", fallbacks=[]) for _ in range(3)]
        with pytest.raises(PolicyDenied):
            await rt.generate("primary", "hi", user="bob", fallbacks=[])
    async with open_store(f"sqlite:///{tmp_path / 'agentrt.db'}") as store:
        joined = await store.fetchall(
            "SELECT u.request_id, a.decision FROM agentrt_usage u JOIN agentrt_audit a ON a.request_id = u.request_id "
            "WHERE u.user_name = 'alice' ORDER BY u.ts"
        )
        denied = await store.fetchall("SELECT request_id FROM agentrt_audit WHERE decision = 'deny'")
    assert [row[0] for row in joined] == [c.request_id for c in completions]
    assert all(row[1] == "allow" for row in joined)
    assert len({c.request_id for c in completions}) == 3
    assert len(denied) == 1
    assert denied[0][0] is not None


async def test_every_call_kind_leaves_the_journal_empty_at_a_clean_stop(up: FakeUpstream, tmp_path: Path) -> None:
    """Each call the sqlite counters journal gets its ledger row, which clears it: nothing left to recover."""
    from pydantic import BaseModel

    from agentrt.testing import Fault

    class Answer(BaseModel):
        value: int

    budget = {"scope": "user", "period": "total", "max_tokens": 1_000_000}
    path = write_config(tmp_path / "agentrt.json", up, tmp_path, budgets=[budget])
    up.script(Reply(text="ok", usage=(10, 5)), Fault(status=503, times=3), Reply(text="ok"), Reply(text="x" * 200))
    async with runtime(path) as rt:
        await rt.generate("primary", "hi", user="alice", fallbacks=[])
        await rt.generate("primary", "hi", user="alice")  # the primary fails: the fallback serves
        async for _ in rt.stream("primary", "hi", user="alice", fallbacks=[]):
            break  # abandoned early
        up.script(Reply(text='{"value": 3}'))
        await rt.generate_object("primary", "a number", schema=Answer, user="alice", fallbacks=[])
    with sqlite3.connect(tmp_path / "agentrt.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM agentrt_usage_pending").fetchone() == (0,)
        calls = conn.execute("SELECT COUNT(*) FROM agentrt_usage").fetchone()[0]
    assert calls >= 4


async def test_clip_output_tells_the_provider_what_the_budget_has_left(up: FakeUpstream, tmp_path: Path) -> None:
    small = {"scope": "user", "period": "day", "max_tokens": 400}
    path = write_config(tmp_path / "agentrt.json", up, tmp_path, budgets=[small])
    up.script(*[Reply(text="ok", usage=(10, 5))] * 3)
    async with runtime(path) as rt:
        # No output limit named: the model's whole context (1000) is more than the budget; waiting cannot help.
        with pytest.raises(BudgetExceeded) as caught:
            await rt.generate("primary", "hi", user="alice", fallbacks=[])
        assert caught.value.resets_at is None
        assert "pass max_output_tokens (or max_tokens) of at most" in str(caught.value)
        assert up.requests == []
    write_config(path, up, tmp_path, budgets=[{**small, "clip_output": True}])
    async with runtime(path) as rt:
        completion = await rt.generate("primary", "hi", user="alice", fallbacks=[])
        assert completion.text == "ok"
    body = up.requests[0].body
    sent = body.get("max_completion_tokens", body.get("max_tokens"))
    assert isinstance(sent, int)
    assert 0 < sent < 400  # what the budget had left after the input estimate, not the model's maximum
