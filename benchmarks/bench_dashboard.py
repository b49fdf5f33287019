"""The dashboard's usage page and its JSON API over a ledger of 1,000,000 rows, on SQLite: p50/p95 in ms.

The goal (issue 14): each answers in under 200 ms. The ledger is generated
straight into the store's file: 1,000,000 calls of 40 tenants, 2,000 users,
60 API keys and 8 models of 4 providers, spread over the last 90 days with a
daily rhythm, in one ``executemany`` transaction with the ledger's indexes
dropped and rebuilt after (as a bulk load does). Then `agentrt`'s own
server is started on that file, the closed days are rolled up (what the
server does in the background; its time is reported), a dashboard session is
opened through the login form, and each page is fetched over loopback HTTP,
as a browser does, with several groupings, periods and filters.

Next to the figures, the floor measured in the same run: a round trip to the
same server's ``/healthz``. Prints a report; asserts nothing.

``python -m benchmarks dashboard`` (``ROWS=200000`` for a quicker run; ``BENCH_DB=/tmp/ledger.db``
keeps the generated file and reuses it on the next run, for working on the pages).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from agentrt import Runtime
from agentrt.server import HttpServer, hash_key
from agentrt.store import Store
from agentrt.store.usage_rollup import roll_up_closed_days

ROWS = int(os.environ.get("ROWS", "1000000"))
DAYS = 90
REPEATS = 15
GOAL_MS = 200.0
ADMIN_KEY = "sk-agentrt-adminBENCH0123456789abcdefghijk"
TENANT_KEY = "sk-agentrt-tenantBENCH0123456789abcdefghij"

MODELS = [  # (model, provider, input $/Mtok, output $/Mtok, weight)
    ("gpt-4o", "openai", 2.5, 10.0, 30),
    ("gpt-4o-mini", "openai", 0.15, 0.6, 40),
    ("claude-sonnet", "anthropic", 3.0, 15.0, 15),
    ("claude-haiku", "anthropic", 0.8, 4.0, 10),
    ("gemini-flash", "google", 0.1, 0.4, 12),
    ("gemini-pro", "google", 1.25, 10.0, 5),
    ("llama-70b", "bedrock", 0.72, 0.72, 4),
    ("embedder", "openai", 0.02, 0.0, 8),
]

QUERIES = [  # (label, path and query)
    ("page   7d by model", "/ui/usage?period=7d&by=model"),
    ("page   30d by tenant", "/ui/usage?period=30d&by=tenant"),
    ("page   90d by user", "/ui/usage?period=90d&by=user"),
    ("page   today by model, hourly", "/ui/usage?period=today&by=model&granularity=hour"),
    ("page   month by api key", "/ui/usage?period=month&by=api_key"),
    ("page   30d one tenant by user", "/ui/usage?period=30d&by=user&tenant=tenant-03"),
    ("page   7d one model by provider", "/ui/usage?period=7d&by=provider&model=gpt-4o"),
    ("json   90d by model", "/ui/api/usage?period=90d&by=model"),
    ("json   30d by provider", "/ui/api/usage?period=30d&by=provider"),
    ("json   7d by user, hourly", "/ui/api/usage?period=7d&by=user&granularity=hour"),
    ("json   90d one user", "/ui/api/usage?period=90d&user=user-0042"),
    ("json   30d one api key by model", "/ui/api/usage?period=30d&by=model&api_key=key-07"),
    ("tenant page 30d by user (own tenant)", "/ui/usage?period=30d&by=user"),
]


def config(db: Path, workdir: Path) -> dict[str, Any]:
    return {
        "runtime": {"shutdown_timeout": "5s"},
        "logging": {"console": {"format": "off"}, "file": {"path": str(workdir / "log.jsonl")}},
        "store": {"url": f"sqlite:///{db}"},
        "providers": {"local": {"kind": "local"}},
        "models": {"m": {"provider": "local", "capabilities": ["chat"]}},
        "server": {
            "host": "127.0.0.1",
            "api_keys": [
                {"key_sha256": hash_key(ADMIN_KEY), "name": "bench-admin", "admin": True},
                {
                    "key_sha256": hash_key(TENANT_KEY),
                    "name": "bench-tenant",
                    "tenant": "tenant-00",
                    "scopes": ["dashboard"],
                },
            ],
        },
    }


# --- the generated ledger -----------------------------------------------------------------------------


def _rows(count: int, now: float) -> Iterator[tuple[Any, ...]]:
    """Calls in time order: tenants and users of Zipf-like sizes, a daily rhythm, 2% failures, some cache hits."""
    rng = random.Random(14)
    tenants = [f"tenant-{i:02d}" for i in range(40)]
    tenant_weights = [1.0 / (i + 1) for i in range(len(tenants))]
    users = [(f"user-{i:04d}", rng.choices(tenants, tenant_weights)[0]) for i in range(2000)]
    user_weights = [1.0 / (i + 1) ** 0.8 for i in range(len(users))]
    keys = [f"key-{i:02d}" for i in range(60)]
    model_weights = [m[4] for m in MODELS]
    start = now - DAYS * 86400.0
    # Times first, sorted: the ledger is written in time order, as calls happen.
    hours = [0.3 + 0.7 * max(0.0, 1 - abs(h - 14) / 9) for h in range(24)]  # busier in the afternoon (UTC)
    picked_hours = rng.choices(range(24), hours, k=count)
    rand = rng.random
    stamps = sorted(
        min(now - 1.0, start + rng.randrange(DAYS) * 86400.0 + (hour + rand()) * 3600.0) for hour in picked_hours
    )
    picked_users = rng.choices(users, user_weights, k=count)
    picked_models = rng.choices(MODELS, model_weights, k=count)
    for n, ts in enumerate(stamps):
        user, tenant = picked_users[n]
        model, provider, price_in, price_out, _ = picked_models[n]
        embed = model == "embedder"
        input_tokens = rng.randrange(20, 4000)
        output_tokens = 0 if embed else rng.randrange(5, 1200)
        cached = rng.random() < 0.03
        failed = rng.random() < 0.02
        cost = 0.0 if failed or cached else (input_tokens * price_in + output_tokens * price_out) / 1e6
        yield (
            ts,
            f"req-{n:012x}",
            user,
            tenant,
            keys[int(user[5:]) % len(keys)],
            model,
            provider,
            "embed" if embed else "chat",
            0 if failed else input_tokens,
            0 if failed else output_tokens,
            0,
            cost,
            rng.uniform(0.2, 6.0),
            "ProviderUnavailable" if failed else "ok",
            2 if failed else 1,
            None,
            cached,
        )


def load_ledger(db: Path, count: int, now: float) -> float:
    """Write ``count`` rows into the (migrated) ledger of ``db``; return the seconds it took."""
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'agentrt_usage' AND sql IS NOT NULL"
        ).fetchall()
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.executemany(
            "INSERT INTO agentrt_usage (ts, request_id, user_name, tenant, api_key, model, provider, operation, "
            "input_tokens, output_tokens, cached_tokens, cost, latency, outcome, attempts, deployment, cached) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _rows(count, now),
        )
        for _, sql in indexes:  # the migrations' own statements: the same indexes, built once over sorted data
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return time.perf_counter() - started


# --- timing the pages ---------------------------------------------------------------------------------------


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def log_in(http: aiohttp.ClientSession, url: str, key: str) -> None:
    async with http.get(url + "/ui/login") as form:
        found = _CSRF.search(await form.text())
    assert found is not None, "the login form has no CSRF token"
    data = {"api_key": key, "csrf_token": found.group(1), "next": "/ui"}
    async with http.post(url + "/ui/login", data=data, allow_redirects=False) as response:
        assert response.status == 303, f"login failed: {response.status} {await response.text()}"


async def timed(http: aiohttp.ClientSession, url: str, repeats: int = REPEATS) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        async with http.get(url, allow_redirects=False) as response:
            await response.read()
            assert response.status == 200, f"{url}: {response.status} {(await response.text())[:300]}"
        times.append((time.perf_counter() - started) * 1000)
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def migrate(db: Path, workdir: Path) -> None:
    """Start the server once: the store's migrations (the ledger, the dashboard's indexes and rollup tables)."""
    async with Runtime.open(config(db, workdir), plugins=False) as rt, HttpServer(rt, port=0):
        pass


def prepare(db: Path, workdir: Path, reuse: bool) -> None:
    if reuse and db.exists():
        print(f"ledger: reusing {db} ({db.stat().st_size / 1e6:.0f} MB; delete it for fresh rows)")
        return
    asyncio.run(migrate(db, workdir))
    seconds = load_ledger(db, ROWS, time.time())
    rate, size = ROWS / seconds, db.stat().st_size / 1e6
    print(f"ledger: {ROWS:,} rows over {DAYS} days in {seconds:.1f} s ({rate:,.0f} rows/s), {size:.0f} MB")


async def measure(db: Path, workdir: Path) -> None:
    async with Runtime.open(config(db, workdir), plugins=False) as rt, HttpServer(rt, port=0) as server:
        started = time.perf_counter()
        rolled = await roll_up_closed_days(rt.services.get(Store))
        took = time.perf_counter() - started
        print(f"rollup: {len(rolled)} closed days summed in {took:.1f} s (once, in the background)")
        jar = aiohttp.CookieJar(unsafe=True)  # keeps the cookies of an IP address host
        async with (
            aiohttp.ClientSession(cookie_jar=jar) as admin,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as tenant,
        ):
            await log_in(admin, server.url, ADMIN_KEY)
            await log_in(tenant, server.url, TENANT_KEY)
            floor = await timed(admin, server.url + "/healthz", 30)
            print(f"floor  GET /healthz (loopback round trip)       p50 {statistics.median(floor):7.1f} ms")
            worst = 0.0
            for label, path in QUERIES:
                http = tenant if label.startswith("tenant") else admin
                await timed(http, server.url + path, 2)  # warm: the first read of a page loads its template
                times = await timed(http, server.url + path)
                worst = max(worst, p95(times))
                mark = "ok" if p95(times) < GOAL_MS else "OVER"
                print(f"{label:<42} p50 {statistics.median(times):7.1f} ms   p95 {p95(times):7.1f} ms   {mark}")
            verdict = "under" if worst < GOAL_MS else "OVER"
            print(f"worst p95 {worst:.1f} ms: {verdict} the {GOAL_MS:.0f} ms goal")


def main() -> None:
    print(f"dashboard usage over a SQLite ledger; Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    kept = Path(os.environ["BENCH_DB"]) if os.environ.get("BENCH_DB") else None
    with tempfile.TemporaryDirectory(prefix="agentrt-bench-dash-") as workdir:
        db = kept or Path(workdir) / "ledger.db"
        prepare(db, Path(workdir), reuse=kept is not None)
        asyncio.run(measure(db, Path(workdir)))


if __name__ == "__main__":
    main()
