"""A server that dies is restarted with backoff; status says so; calls made meanwhile wait or fail clearly."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from pathlib import Path

import pytest
from mcp_support import FAST_RESTARTS, HttpMcpServer, eventually, http_spec, pids_in, process_gone, stdio_spec

from agentrt.errors import ToolError
from agentrt.tools.mcp import RestartPolicy, source_from_spec


async def test_a_crashed_stdio_server_is_restarted_and_calls_work_again(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    slow_enough_to_see = RestartPolicy(backoff=0.5, max_backoff=0.5, jitter=False)
    spec = stdio_spec("crashy", env={"MCP_TEST_PIDFILE": str(pidfile)}, restart=slow_enough_to_see)
    source = source_from_spec("kit", spec)
    await source.start()
    try:
        [first] = pids_in(pidfile)
        with pytest.raises(ToolError, match="closed the connection during the call; it is being restarted"):
            await source.call("die", {}, timeout=10)
        await eventually(lambda: source.status().restarts == 1)
        assert source.status().detail.startswith("the server process exited; restart 1")
        await eventually(lambda: source.status().state == "ready")
        assert (await source.call("echo", {"text": "back"}, timeout=10)).text == "back"
        pids = pids_in(pidfile)
        assert len(pids) == 2
        assert process_gone(first)  # the dead server was reaped, not left a zombie
    finally:
        await source.close()
    assert all(process_gone(pid) for pid in pids_in(pidfile))


async def test_a_server_that_stays_down_is_retried_with_growing_waits(tmp_path: Path) -> None:
    flag, launches = tmp_path / "down", tmp_path / "launches"
    policy = RestartPolicy(backoff=0.2, max_backoff=0.8, jitter=False)
    env = {"MCP_TEST_CRASH_AT_START": str(flag), "MCP_TEST_LAUNCHES": str(launches)}
    source = source_from_spec("kit", stdio_spec("crashy", env=env, restart=policy))
    await source.start()
    try:
        flag.touch()  # from now on the server exits as soon as it starts
        with pytest.raises(ToolError):
            await source.call("die", {}, timeout=10)
        await eventually(lambda: source.status().restarts >= 5, timeout=30)
        status = source.status()
        assert status.state == "restarting"
        assert re.search(r"restart \d+ (in \d+\.\ds|: connecting)", status.detail)
        assert "refusing to start while the crash flag is set" in "\n".join(status.extra["stderr_tail"])
        # Each launch after the crash waited at least its backoff: 0.2, 0.4, 0.8, 0.8 s (no jitter here).
        times = [float(line) for line in launches.read_text().split()]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times[1:])]
        assert len(gaps) >= 3
        for gap, wait in zip(gaps, [0.4, 0.8, 0.8], strict=False):
            assert gap >= wait

        # A call made while the server is down waits for it, up to the call's timeout, then says why.
        began = time.monotonic()
        with pytest.raises(TimeoutError, match=r"kit\.echo was not called: MCP toolkit 'kit' is still restarting"):
            await source.call("echo", {"text": "x"}, timeout=0.5)
        assert 0.4 < time.monotonic() - began < 5

        # The server comes back: a call waiting meanwhile gets through.
        waiting = asyncio.create_task(source.call("echo", {"text": "waited"}, timeout=15))
        await asyncio.sleep(0.1)
        flag.unlink()
        assert (await waiting).text == "waited"
        assert source.status().state == "ready"
    finally:
        await source.close()


def test_restart_waits_double_up_to_the_cap_with_equal_jitter() -> None:
    plain = RestartPolicy(backoff=0.5, max_backoff=4, jitter=False)
    assert [plain.delay(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
    jittered = RestartPolicy(backoff=0.5, max_backoff=4)
    for n, ceiling in enumerate([0.5, 1, 2, 4, 4], start=1):
        waits = {jittered.delay(n) for _ in range(50)}
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(waits) > 1
    with pytest.raises(ValueError, match="max_backoff at least backoff"):
        RestartPolicy(backoff=2, max_backoff=1)


@pytest.mark.parametrize("protocol", ["auto", "legacy"], ids=["2026-stateless", "legacy-session"])
async def test_a_crashed_http_server_is_reconnected_when_it_comes_back(protocol: str) -> None:
    server = await HttpMcpServer("crashy").astart()
    source = source_from_spec("remote", http_spec(server.url, restart=FAST_RESTARTS, protocol=protocol))
    try:
        await source.start()
        server.kill()
        # Depending on who notices first (this call, or the supervisor's open stream), the call fails at once
        # (ToolError: the connection closed) or waits for a restart that cannot succeed yet (TimeoutError).
        with pytest.raises((ToolError, TimeoutError)):
            await source.call("echo", {"text": "x"}, timeout=2)
        await eventually(lambda: source.status().state == "restarting", timeout=10)
        await server.astart()
        await eventually(lambda: source.status().state == "ready", timeout=20)
        assert source.status().restarts >= 1
        assert (await source.call("echo", {"text": "again"}, timeout=10)).text == "again"
    finally:
        await source.close()
        server.stop()


async def test_close_during_a_restart_stops_cleanly(tmp_path: Path) -> None:
    flag = tmp_path / "down"
    source = source_from_spec("kit", stdio_spec("crashy", env={"MCP_TEST_CRASH_AT_START": str(flag)}))
    await source.start()
    flag.touch()
    with pytest.raises(ToolError):
        await source.call("die", {}, timeout=10)
    await eventually(lambda: source.status().state == "restarting")
    waiting = asyncio.create_task(source.call("echo", {"text": "x"}, timeout=30))
    await asyncio.sleep(0.05)
    await source.close()
    with pytest.raises(ToolError, match="is stopped"):
        await waiting
    assert source.status().state == "stopped"


class _BrokenPolicy(RestartPolicy):
    def delay(self, restart: int) -> float:
        raise ZeroDivisionError("a bug in the restart policy")


async def test_a_bug_in_the_supervisor_fails_the_source_instead_of_hanging_callers() -> None:
    source = source_from_spec("kit", stdio_spec("crashy", restart=_BrokenPolicy()))
    await source.start()
    try:
        with pytest.raises(ToolError):
            await source.call("die", {}, timeout=10)
        await eventually(lambda: source.status().state == "failed")
        assert "the supervisor stopped: ZeroDivisionError: a bug in the restart policy" in source.status().detail
        with pytest.raises(ToolError, match="is failed"):
            await source.call("echo", {"text": "x"}, timeout=10)
    finally:
        await source.close()


async def test_a_call_without_timeout_waits_for_one_restart_at_most_then_says_why(tmp_path: Path) -> None:
    flag = tmp_path / "down"
    spec = stdio_spec("crashy", env={"MCP_TEST_CRASH_AT_START": str(flag)}, start_timeout=3.0)
    source = source_from_spec("kit", spec)
    await source.start()
    try:
        flag.touch()
        with pytest.raises(ToolError):
            await source.call("die", {}, timeout=10)
        began = time.monotonic()
        with pytest.raises(ToolError, match=r"kit\.echo was not called: .* is still restarting .* after 3\.4s"):
            await source.call("echo", {"text": "x"})  # no timeout: start_timeout + max_backoff, never forever
        assert 3.3 < time.monotonic() - began < 8
    finally:
        await source.close()
