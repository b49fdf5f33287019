"""What a governed tool call costs over the tool alone, in µs: MCP over stdio and HTTP, and a Python tool.

For each MCP transport, a server built with the official ``mcp`` SDK (one
``echo`` tool, ``_mcp_echo_server.py``) is called one call at a time by:

- the official ``mcp`` client alone (``mcp.Client.call_tool``): the floor;
- the registry's raw call (agentrt's MCP source, ungoverned);
- ``rt.tools.call``: the governed path, with a tool rule, a tool rate limit,
  a cost budget (reserve and settle), an approval check, a timeout, one audit
  row (written by the store's writer thread), metrics and a log line; tracing
  off (with a span, the mcp SDK also sends the trace context to the server).

In process, an async ``@tool`` Python function is called directly
(``Tool.invoke``) and through ``rt.tools.call`` with the same governance, with
tracing off and on (the OpenTelemetry SDK's span is most of what tracing costs).

Single calls alternate between the contenders; the figures are the medians of
each contender's call times. Goal: the governed path adds under 100 µs to an MCP call. Prints a
report; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SERVER = HERE / "_mcp_echo_server.py"
ROUNDS = 3
MCP_CALLS = 70  # per round and contender: an MCP call takes milliseconds
PY_CALLS = 2000
ARGS = {"text": "hello"}

PY_TOOLS = '''
from agentrt.tools import tool


@tool
async def echo(text: str) -> str:
    """Repeat the text."""
    return text
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the benchmark's MCP server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the benchmark's MCP server did not listen within 20 s")


def _config(workdir: Path, toolkit: dict[str, Any]) -> dict[str, Any]:
    return {
        "logging": {"level": "info", "console": {"format": "off"}},
        "store": {"url": f"sqlite:///{workdir / 'bench.db'}"},
        "policies": {
            "backend": "memory",
            "rules": [{"name": "no-interns", "effect": "deny", "match": {"tenants": ["interns"], "tools": ["*"]}}],
            "limits": [{"scope": "user", "tools": ["*"], "rpm": 10**9}],
            "budgets": [{"scope": "tenant", "period": "month", "max_cost": 10**6}],
        },
        "observability": {"metrics": {"enabled": True}},
        "tools": {"bench": {**toolkit, "cost": 0.0001, "secret_fields": ["token"]}},
    }


def _tracing() -> Any:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from agentrt.config import TracingSection
    from agentrt.observability import Tracing

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return Tracing(TracingSection(enabled=True), span_processor=SimpleSpanProcessor(Drop()))


async def _per_call_us(call: Callable[[], Awaitable[object]], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await call()
    return (time.perf_counter() - started) / count * 1e6


Spread = dict[str, tuple[float, float]]


async def _compare(
    contenders: dict[str, Callable[[], Awaitable[object]]], calls: int
) -> tuple[dict[str, float], Spread]:
    """The median µs of one call of each contender, the calls interleaved one by one.

    On a busy machine an MCP call's time varies by milliseconds; interleaving single calls and taking
    medians lets the difference of ~100 µs show through that noise. The order is shuffled each time:
    the registry's raw call and the governed one share a server, and the call right after another
    one on the same server waits for what the server still does after answering.
    """
    for call in contenders.values():  # warm up: connections, caches, code paths
        await _per_call_us(call, max(calls // 10, 20))
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    clock = time.perf_counter
    order = list(contenders.items())
    shuffle = random.Random(7).shuffle
    for _ in range(calls * ROUNDS):
        shuffle(order)  # who goes first pays for what the server still does after the previous call
        for name, call in order:
            started = clock()
            await call()
            samples[name].append((clock() - started) * 1e6)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    quartiles = {name: _quartiles(values) for name, values in samples.items()}
    return medians, quartiles


def _quartiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=4)
    return cuts[0], cuts[2]


def _report(
    title: str, result: tuple[dict[str, float], Spread], floor_name: str, ours_name: str, raw_name: str | None
) -> None:
    medians, spread = result
    floor = medians[floor_name]
    print(f"{title} (median call; p25-p75 shows the machine's noise):")
    for name, us in medians.items():
        low, high = spread[name]
        print(f"  {name:34s} {us:8.1f} µs/call  {us / floor:5.2f}x   p25-p75 {low:8.1f} - {high:8.1f}")
    ours = medians[ours_name]
    added = ours - floor
    line = f"  agentrt adds {added:.1f} µs per call over {floor_name}"
    if raw_name is not None:
        line += f" (governance alone: {ours - medians[raw_name]:.1f} µs)"
    print(line + f"; goal < 100 µs: {'met' if added < 100 else 'NOT MET'}")


async def bench_mcp(transport: str, workdir: Path) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from agentrt import Runtime
    from agentrt.tools.registry import ToolRegistry

    process: subprocess.Popen[bytes] | None = None
    if transport == "stdio":
        target: Any = StdioServerParameters(command=sys.executable, args=[str(SERVER)])
        toolkit = {"mcp": {"command": sys.executable, "args": [str(SERVER)]}}
    else:
        port = _free_port()
        command = [sys.executable, str(SERVER), "--http", str(port)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: ASYNC220  # before any call is timed
        _wait_for_port(port, process)
        target = f"http://127.0.0.1:{port}/mcp"
        toolkit = {"mcp": {"url": target}}
    try:
        async with Client(target) as client:
            # Tracing off here: with a span current, the mcp SDK also propagates the trace context to the
            # server (W3C traceparent in `_meta`), which the server parses: that is tracing's price, not
            # governance's, and the in-process figures above show what a span costs.
            rt = Runtime.open(_config(workdir, toolkit), plugins=False)
            async with rt:
                registry = rt.services.get(ToolRegistry)

                async def official() -> object:
                    return await client.call_tool("echo", ARGS)

                async def raw() -> object:
                    return await registry.call("bench.echo", ARGS)

                governed = _governed_call(rt)

                result = await _compare(
                    {
                        "mcp client alone (floor)": official,
                        "registry raw call (ungoverned)": raw,
                        "rt.tools.call (governed)": governed,
                    },
                    MCP_CALLS,
                )
        _report(
            f"MCP over {transport}, sequential calls",
            result,
            "mcp client alone (floor)",
            "rt.tools.call (governed)",
            "registry raw call (ungoverned)",
        )
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


def _governed_call(rt: Any) -> Callable[[], Awaitable[object]]:
    tools = rt.tools

    async def governed() -> object:
        output = await tools.call("bench.echo", ARGS, user="u1", tenant="t1")
        assert not output.is_error, output.text
        return output

    return governed


async def bench_python(workdir: Path) -> None:
    from agentrt import Runtime
    from agentrt.observability import Tracing
    from agentrt.tools import tool

    module = workdir / "bench_py_tools.py"
    module.write_text(PY_TOOLS)

    @tool
    async def echo(text: str) -> str:  # async, as in PY_TOOLS: a sync tool adds a thread hop to both sides
        """Repeat the text."""
        return text

    async def direct() -> object:
        return await echo.invoke(ARGS)

    for traced in (False, True):
        rt = Runtime.open(_config(workdir, {"python": str(module)}), plugins=False)
        if traced:
            rt.override(Tracing, _tracing())
        async with rt:
            governed = _governed_call(rt)
            contenders = {"Tool.invoke (direct)": direct, "rt.tools.call (governed)": governed}
            result = await _compare(contenders, PY_CALLS)
        title = f"a Python @tool in process, tracing {'on (a span per call)' if traced else 'off'}"
        _report(title, result, "Tool.invoke (direct)", "rt.tools.call (governed)", None)


async def main() -> None:
    print(f"governed tool calls: 1 rule, 1 tool limit, 1 cost budget, audit, metrics; Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        await bench_python(workdir)
        for transport in ("stdio", "http"):
            await bench_mcp(transport, workdir)


if __name__ == "__main__":
    os.environ.pop("AGENTRT_CONFIG", None)
    asyncio.run(main())
