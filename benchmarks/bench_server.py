"""`agentrt serve` as a proxy in front of a fake upstream, against the fake upstream called directly.

Three processes, as in production: a FakeUpstream (the provider), `agentrt
serve` (configured with policies' hook, retries, breakers, metrics and one
JSON log line per call to a file, all on), and this process, the load
generator (an aiohttp client; `wrk` is used instead for the throughput runs
when it is installed). Measured in one run, in alternating rounds so machine
noise hits both alike:

- added latency, one client: p50 and p99 of the same chat completion sent to
  the fake directly and through the server;
- requests per second with 64 concurrent clients, directly and through the server.

Goal (issue 6): under 1 ms p50 added latency and at least 2,500 requests/s
through the server on a 2-core machine (the LiteLLM proxy, one worker,
measured ~260 requests/s and 3.4 ms added p50 in the same setting).

``--workers`` measures instead ``agentrt serve`` with 1 worker (the plain
command) against ``agentrt serve --workers 2``: requests per second with 64
concurrent clients, both servers up at once and measured in alternating rounds,
the load generator (this process) apart from both (issue 12).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import orjson

SEQUENTIAL_PER_ROUND = 600
ROUNDS = 5
CONCURRENT_REQUESTS = 6000
IN_FLIGHT = 64
UPSTREAM_KEY = "sk-bench-upstream"
SERVER_KEY = "sk-agentrt-bench0123456789abcdefghijklmnop"
BODY = orjson.dumps({"model": "gpt-bench", "messages": [{"role": "user", "content": "Say hello in five words."}]})
GOAL_ADDED_P50_MS = 1.0
GOAL_RPS = 2500


def start_upstream() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        # Lenient: checking each body against the SDK types would slow the floor that agentrt is measured against.
        [sys.executable, "-m", "agentrt.testing.fake_upstream", "--port", "0", "--api-key", UPSTREAM_KEY, "--lenient"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the fake upstream did not start: {url!r}")
    return proc, url


def serve_command(config: Path) -> list[str]:
    from agentrt.cli._app import app

    args = ["--config", str(config), "--port", "0"]
    if any(command.name == "serve" for command in app.registered_commands):
        return [sys.executable, "-c", "from agentrt.cli import main; main()", "serve", *args]
    return [sys.executable, "-m", "agentrt.cli.serve_cmd", *args]


def start_server(upstream: str, workdir: Path, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    import yaml

    from agentrt.server import hash_key
    from agentrt.server.workers import worker_log_path

    log = workdir / "agentrt.jsonl"
    config = {
        "runtime": {"shutdown_timeout": "5s"},
        "logging": {
            "level": os.environ.get("BENCH_LOG_LEVEL", "info"),
            "levels": {"agentrt.server": "info"},  # server_listening tells the port
            "console": {"format": "off"},
            "file": {"path": str(log), "rotate": {"max_bytes": "50MB", "backups": 2}},
        },
        "providers": {"bench": {"kind": "openai", "api_key": UPSTREAM_KEY, "base_url": f"{upstream}/v1"}},
        "models": {"gpt-bench": {"provider": "bench", "pricing": {"input": 0.15, "output": 0.6}}},
        "server": {"api_keys": [{"key_sha256": hash_key(SERVER_KEY), "name": "bench", "user": "bench"}]},
        "observability": {"metrics": {"enabled": True}},
    }
    path = workdir / "agentrt.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRT")}
    command = serve_command(path) + (["--workers", str(workers)] if workers > 1 else [])
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    # With workers, each writes its own log file; the server is up when every one of them listens.
    logs = [log] if workers == 1 else [worker_log_path(log, index) for index in range(1, workers + 1)]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        urls = [_listening(one) for one in logs]
        if all(urls):
            return proc, str(urls[0])
        if proc.poll() is not None:
            raise SystemExit(f"agentrt serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("agentrt serve did not start within 20 s")


def _listening(log: Path) -> str | None:
    if not log.exists():
        return None
    for line in log.read_bytes().splitlines():
        record = orjson.loads(line)
        if record.get("event") == "server_listening":
            return str(record["url"])
    return None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def latencies(call: Callable[[], Awaitable[None]], count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


async def requests_per_second(call: Callable[[], Awaitable[None]], total: int, in_flight: int) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return total / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (Linux /proc), or None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_rps(url: str, key: str) -> float | None:
    """Requests/s measured by wrk (64 connections, 2 threads, 5 s), or None when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = [[{BODY.decode()}]]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    )
    result = subprocess.run(
        [wrk, "-t2", f"-c{IN_FLIGHT}", "-d5s", "-s", str(script), url + "/v1/chat/completions"],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


async def main() -> None:
    upstream_proc, upstream = start_upstream()
    workdir = Path(tempfile.mkdtemp(prefix="agentrt-bench-server-"))
    server_proc, server = start_server(upstream, workdir)
    try:
        connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector) as session:

            def caller(base: str, key: str) -> Callable[[], Awaitable[None]]:
                url = base + "/v1/chat/completions"
                headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

                async def call() -> None:
                    async with session.post(url, data=BODY, headers=headers) as response:
                        body = await response.read()
                        if response.status != 200:
                            raise SystemExit(f"{base} answered {response.status}: {body[:300]!r}")

                return call

            contenders = {
                "fake upstream, directly": caller(upstream, UPSTREAM_KEY),
                "through agentrt serve": caller(server, SERVER_KEY),
            }
            for call in contenders.values():  # warm up connections and code paths
                await latencies(call, 300)
            samples: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(ROUNDS):
                for name, call in contenders.items():
                    samples[name].extend(await latencies(call, SEQUENTIAL_PER_ROUND))
            print(
                f"one client, {SEQUENTIAL_PER_ROUND * ROUNDS} sequential chat completions each "
                f"({ROUNDS} alternating rounds):"
            )
            p50 = {name: percentile(v, 0.50) * 1000 for name, v in samples.items()}
            p99 = {name: percentile(v, 0.99) * 1000 for name, v in samples.items()}
            for name in contenders:
                print(
                    f"  {name:26s} p50 {p50[name]:6.3f} ms   p99 {p99[name]:6.3f} ms   "
                    f"mean {statistics.fmean(samples[name]) * 1000:6.3f} ms"
                )
            direct, proxied = contenders
            added_p50 = p50[proxied] - p50[direct]
            added_p99 = p99[proxied] - p99[direct]
            print(f"  added by the server: p50 {added_p50:.3f} ms, p99 {added_p99:.3f} ms")

            print(f"requests per second, {IN_FLIGHT} concurrent clients:")
            rates: dict[str, float] = {}
            for name, call in contenders.items():
                wrk = wrk_rps(upstream if name == direct else server, UPSTREAM_KEY if name == direct else SERVER_KEY)
                if wrk is not None:
                    rates[name] = wrk
                    print(f"  {name:26s} {wrk:8.0f} requests/s (wrk)")
                else:
                    before = cpu_seconds(server_proc.pid)
                    rates[name] = await requests_per_second(call, CONCURRENT_REQUESTS, IN_FLIGHT)
                    after = cpu_seconds(server_proc.pid)
                    print(
                        f"  {name:26s} {rates[name]:8.0f} requests/s "
                        f"({CONCURRENT_REQUESTS} requests, aiohttp client in this process)"
                    )
                    if name == proxied and before is not None and after is not None:
                        per_request = (after - before) / CONCURRENT_REQUESTS * 1e6
                        print(
                            f"  {'':26s} the server process used {per_request:.0f} µs of CPU per request "
                            f"(at most {1e6 / per_request:.0f} requests/s on one free core)"
                        )
            met_latency = added_p50 < GOAL_ADDED_P50_MS
            met_rps = rates[proxied] >= GOAL_RPS
            print(
                f"goal: added p50 < {GOAL_ADDED_P50_MS:g} ms: {'met' if met_latency else 'NOT MET'} "
                f"({added_p50:.3f} ms); >= {GOAL_RPS} requests/s through the server: "
                f"{'met' if met_rps else 'NOT MET'} ({rates[proxied]:.0f}/s)"
            )
            print(
                f"  (reference, same setting: LiteLLM proxy ~260 requests/s, 3.4 ms added p50; "
                f"{os.cpu_count()} CPUs here, load generator, server and upstream share them)"
            )
    finally:
        server_proc.terminate()
        try:
            code = server_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server_proc.kill()
            code = server_proc.wait()
        upstream_proc.terminate()
        upstream_proc.wait(timeout=10)
    lines = sum(1 for _ in (workdir / "agentrt.jsonl").open("rb"))
    print(f"  (the server wrote {lines} log lines, one per call, and exited with status {code} on SIGTERM)")


WORKER_ROUNDS = 3
WORKER_ROUND_SECONDS = 3.0  # timed rounds, so a busy machine makes the figures lower, not the run longer


async def requests_per_second_for(call: Callable[[], Awaitable[None]], seconds: float, in_flight: int) -> float:
    """Calls completed per second by ``in_flight`` clients calling back to back for ``seconds``."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    await asyncio.gather(*(client() for _ in range(in_flight)))
    return done / (time.perf_counter() - started)


async def compare_workers() -> None:
    """Requests/s at 64 clients: `agentrt serve` (1 worker) and `agentrt serve --workers 2`."""
    upstream_proc, upstream = start_upstream()
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for workers in (1, 2):
            workdir = Path(tempfile.mkdtemp(prefix=f"agentrt-bench-workers{workers}-"))
            servers[f"{workers} worker{'s' if workers > 1 else ''}"] = start_server(upstream, workdir, workers)
        connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
        async with aiohttp.ClientSession(connector=connector) as session:
            headers = {"Authorization": f"Bearer {SERVER_KEY}", "Content-Type": "application/json"}

            def caller(base: str) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    async with session.post(base + "/v1/chat/completions", data=BODY, headers=headers) as response:
                        body = await response.read()
                        if response.status != 200:
                            raise SystemExit(f"{base} answered {response.status}: {body[:300]!r}")

                return call

            calls = {name: caller(url) for name, (_, url) in servers.items()}
            for call in calls.values():  # warm up: 64 connections each, code paths, the SQLite file
                await requests_per_second_for(call, 1.0, IN_FLIGHT)
            rates: dict[str, list[float]] = {name: [] for name in calls}
            for _ in range(WORKER_ROUNDS):
                for name, call in calls.items():
                    rates[name].append(await requests_per_second_for(call, WORKER_ROUND_SECONDS, IN_FLIGHT))
        print(
            f"requests per second, {IN_FLIGHT} concurrent clients, {WORKER_ROUNDS} alternating rounds of "
            f"{WORKER_ROUND_SECONDS:g} s of chat completions (load generator: this process, aiohttp):"
        )
        for name, values in rates.items():
            print(
                f"  agentrt serve, {name:9s} median {statistics.median(values):6.0f}/s   "
                f"rounds {', '.join(f'{v:.0f}' for v in values)}"
            )
        one, two = (statistics.median(values) for values in rates.values())
        print(
            f"  2 workers / 1 worker: {two / one:.2f}x ({os.cpu_count()} CPUs here, shared by the load "
            "generator, the fake upstream and the workers)"
        )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        upstream_proc.terminate()
        upstream_proc.wait(timeout=10)


def event_loop_name() -> str:
    """What `agentrt serve` runs on: uvloop when installed, unless AGENTRT_LOOP=asyncio."""
    if os.environ.get("AGENTRT_LOOP", "auto") == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


if __name__ == "__main__":
    os.environ.pop("AGENTRT_CONFIG", None)
    print(f"server event loop: {event_loop_name()} (AGENTRT_LOOP=asyncio selects the standard loop)")
    asyncio.run(compare_workers() if "--workers" in sys.argv[1:] else main())
