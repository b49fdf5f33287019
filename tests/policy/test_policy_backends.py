"""What is particular to each shared backend: Redis's scripts, keys and TTLs; SQLite's persistence and
its refusal of a PostgreSQL store; both: a caller cancelled mid-admit leaves nothing held."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from policy_support import ALICE, PRICED, FakeClock, MakeEngine, ask, policies
from redis.asyncio import Redis

from agentrt.errors import ConfigError, PolicyError, RateLimitExceeded, RuntimeStateError
from agentrt.policy import PolicyEngine
from agentrt.policy.backends.redis import RedisBackend
from agentrt.policy.backends.sqlite import SqliteBackend
from agentrt.store import open_store
from agentrt.types import Usage


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


# --- redis ------------------------------------------------------------------------------------


async def test_redis_reloads_its_scripts_after_script_flush(redis_url: str, redis: Redis) -> None:
    prefix = f"t:{uuid.uuid4().hex[:8]}:"
    section = policies(limits=[{"scope": "user", "rpm": 2}])
    async with PolicyEngine(section, RedisBackend(redis_url, key_prefix=prefix)) as engine:
        await engine.admit(ask())
        await redis.script_flush()
        await engine.admit(ask())  # NOSCRIPT, then SCRIPT LOAD and EVALSHA again
        with pytest.raises(RateLimitExceeded):
            await engine.admit(ask())
        await redis.script_flush()
        await engine.settle(await engine.admit(ask(BOB_PRINCIPAL)), Usage(1, 1), None)  # settle rides along
        explanation = await engine.explain(BOB_PRINCIPAL, PRICED)
        assert explanation.limits[0].requests == 1
        assert explanation.limits[0].tokens == 2


BOB_PRINCIPAL = ALICE.__class__("bob", "acme")


async def test_redis_keys_carry_the_prefix_and_expire_by_themselves(redis_url: str, redis: Redis) -> None:
    prefix = f"t:{uuid.uuid4().hex[:8]}:"
    section = policies(
        limits=[{"scope": "user", "rpm": 10}],
        budgets=[
            {"scope": "user", "period": "day", "max_tokens": 10_000},
            {"scope": "tenant", "period": "total", "max_tokens": 10_000},
        ],
    )
    async with PolicyEngine(section, RedisBackend(redis_url, key_prefix=prefix)) as engine:
        await engine.settle(await engine.admit(ask()), Usage(5, 5), None)
        await engine.admit(ask())  # still held
    keys = sorted(await redis.keys(f"{prefix}*"))
    assert all(key.startswith(prefix) for key in keys)
    ttls = {key: await redis.pttl(key) for key in keys}
    windows = [key for key in keys if key.startswith(f"{prefix}w:")]
    assert len(windows) == 2  # the sorted set and the hash of alice's window
    assert all(0 < ttls[key] <= 65_000 for key in windows)
    day = [key for key in keys if key.startswith(f"{prefix}b:") and ":user=alice:" in key]
    assert day
    assert all(86_400_000 < ttls[key] <= 3 * 86_400_000 for key in day)  # the period's end + 2 days
    total = next(key for key in keys if ":tenant=acme:" in key and not key.endswith(":x"))
    assert ttls[total] == -1  # a total budget never resets, so it never expires
    other = f"t:{uuid.uuid4().hex[:8]}:"
    async with PolicyEngine(section, RedisBackend(redis_url, key_prefix=other)) as engine:
        explanation = await engine.explain(ALICE, PRICED)
        assert explanation.limits[0].requests == 0  # another prefix: another deployment


async def test_an_unreachable_redis_is_a_clear_error_without_the_password() -> None:
    backend = RedisBackend("redis://:hunter2-secret@127.0.0.1:1/0")
    with pytest.raises(PolicyError) as caught:
        await backend.open()
    assert "hunter2-secret" not in str(caught.value)
    assert "redis://:***@127.0.0.1:1/0" in str(caught.value) or "127.0.0.1:1" in str(caught.value)
    assert "check that it is running" in str(caught.value)


@pytest.fixture
def private_redis(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test alone, which the test may stop (``redis_url`` says redis-server exists)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:  # until it answers; pytest-timeout bounds the wait
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.kill()
        process.wait()


async def test_a_redis_that_goes_away_refuses_calls_rather_than_admitting_them(
    private_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, server = private_redis
    async with PolicyEngine(policies(limits=[{"scope": "user", "rpm": 5}]), RedisBackend(url)) as engine:
        await engine.admit(ask())
        server.kill()
        server.wait()
        with pytest.raises(PolicyError, match="calls are refused until it answers again"):
            await engine.admit(ask())


# --- sqlite -----------------------------------------------------------------------------------


async def test_sqlite_counts_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agentrt.db'}"
    section = policies(
        limits=[{"scope": "user", "rpm": 3}], budgets=[{"scope": "user", "period": "total", "max_tokens": 1000}]
    )
    clock = FakeClock()
    async with open_store(url) as store, PolicyEngine(section, SqliteBackend(store), clock=clock) as engine:
        await engine.settle(await engine.admit(ask()), Usage(100, 50), None)
        await engine.admit(ask())  # held when the process stops
    clock.advance(10)
    async with open_store(url) as store, PolicyEngine(section, SqliteBackend(store), clock=clock) as engine:
        explanation = await engine.explain(ALICE, PRICED)
        assert explanation.limits[0].requests == 2
        budget = explanation.budgets[0]
        assert (budget.used_tokens, budget.reserved_tokens) == (150, 200)


async def test_the_sqlite_backend_refuses_a_postgresql_store(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        with pytest.raises(ConfigError) as caught:
            await SqliteBackend(store).open()
    problem = caught.value.problems[0]
    assert problem.path == "policies.backend"
    assert "set policies.backend to a redis:// URL" in problem.message


async def test_backends_open_once_and_refuse_use_after_close(tmp_path: Path, redis_url: str) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'x.db'}") as store:
        for backend in (SqliteBackend(store), RedisBackend(redis_url)):
            await backend.open()
            with pytest.raises(RuntimeStateError, match="already open"):
                await backend.open()
            await backend.close()
            await backend.close()
            with pytest.raises(RuntimeStateError, match="closed"):
                await backend.snapshot([], [], 0.0)


# --- both -------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend_kind", ["sqlite", "redis"])
async def test_a_caller_cancelled_while_admitting_leaves_nothing_held(
    make_engine: MakeEngine, backend_kind: str
) -> None:
    engine = await make_engine(policies(budgets=[{"scope": "user", "period": "total", "max_tokens": 1000}]))
    admitting = asyncio.create_task(engine.admit(ask()))
    await asyncio.sleep(0)  # queued for the writer, not yet written
    admitting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await admitting
    await engine.backend.flush()  # type: ignore[attr-defined]
    explanation = await engine.explain(ALICE, PRICED)
    assert explanation.budgets[0].reserved_tokens == 0
