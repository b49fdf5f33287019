"""Clients that send slowly, or never, or open many connections, cannot wedge the server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from server_support import USER_KEY, Served, auth, serving

from agentrt.testing import FakeUpstream

LIMITS = {
    "header_timeout": "0.5s",
    "body_timeout": "0.5s",
    "idle_timeout": "1s",
    "max_connections": 40,
}


@pytest.fixture
async def guarded(up: FakeUpstream, tmp_path: Path) -> AsyncIterator[Served]:
    from server_support import api_keys

    server = {"host": "127.0.0.1", "port": 8080, "api_keys": api_keys(), "max_body": "2MB", **LIMITS}
    async with serving(up, tmp_path, server=server) as s:
        yield s


async def _read_until_closed(reader: asyncio.StreamReader, limit: float) -> tuple[bytes, float]:
    started = time.monotonic()
    data = b""
    async with asyncio.timeout(limit):
        while chunk := await reader.read(65536):
            data += chunk
    return data, time.monotonic() - started


async def test_a_body_that_never_arrives_is_a_408_within_the_body_timeout(guarded: Served) -> None:
    reader, writer = await asyncio.open_connection(guarded.server.host, guarded.server.port)
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + USER_KEY.encode() + b"\r\nContent-Length: 1000000\r\n\r\n{"
    )
    await writer.drain()
    data, seconds = await _read_until_closed(reader, 5.0)
    writer.close()
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert b'"code":"body_timeout"' in data
    assert seconds < 2.0


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"])
async def test_a_connection_without_whole_headers_is_closed_after_the_header_timeout(
    guarded: Served, sent: bytes
) -> None:
    reader, writer = await asyncio.open_connection(guarded.server.host, guarded.server.port)
    writer.write(sent)
    await writer.drain()
    data, seconds = await _read_until_closed(reader, 5.0)
    writer.close()
    assert data == b""
    assert 0.3 < seconds < 2.0


async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(guarded: Served) -> None:
    reader, writer = await asyncio.open_connection(guarded.server.host, guarded.server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data, seconds = await _read_until_closed(reader, 5.0)
    writer.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert 0.7 < seconds < 3.0


async def test_hundreds_of_idle_connections_do_not_lock_out_a_real_client(guarded: Served) -> None:
    idle: list[asyncio.StreamWriter] = []
    try:
        for _ in range(300):  # well past max_connections (40); each sends nothing
            _, writer = await asyncio.open_connection(guarded.server.host, guarded.server.port)
            idle.append(writer)
        await asyncio.sleep(0.05)
        runner = guarded.server._runner
        assert runner is not None
        assert runner.server is not None
        assert len(runner.server.connections) <= LIMITS["max_connections"]
        started = time.monotonic()
        async with aiohttp.ClientSession() as http, http.get(guarded.url + "/v1/models", headers=auth()) as r:
            assert r.status == 200
        assert time.monotonic() - started < 1.0  # at once: not after the idle ones time out
    finally:
        for writer in idle:
            with contextlib.suppress(Exception):
                writer.close()


async def test_when_every_connection_is_busy_a_new_one_is_refused_with_a_503(up: FakeUpstream, tmp_path: Path) -> None:
    from server_support import api_keys

    server = {"host": "127.0.0.1", "port": 8080, "api_keys": api_keys(), **LIMITS, "max_connections": 3}
    async with serving(up, tmp_path, server=server) as s:
        busy: list[asyncio.StreamWriter] = []
        try:
            for _ in range(3):  # each in the middle of sending a body: busy, not idle
                _, writer = await asyncio.open_connection(s.server.host, s.server.port)
                writer.write(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    + USER_KEY.encode()
                    + b"\r\nContent-Length: 100\r\n\r\n{"
                )
                await writer.drain()
                busy.append(writer)
            await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_connection(s.server.host, s.server.port)
            data, _ = await _read_until_closed(reader, 2.0)
            writer.close()
            assert data.startswith(b"HTTP/1.1 503"), data[:100]
            assert b'"code":"too_many_connections"' in data
        finally:
            for writer in busy:
                writer.close()


def test_the_cap_fits_under_the_open_files_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    from structlog.testing import capture_logs

    from agentrt.config import ServerSection
    from agentrt.server.connections import connection_limits

    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    with capture_logs() as logs:
        assert connection_limits(ServerSection(max_connections=1000)).max_connections == 1024 - 128
    assert logs[0]["event"] == "server_max_connections_lowered"
    assert connection_limits(ServerSection(max_connections=100)).max_connections == 100
    monkeypatch.setattr(resource, "getrlimit", lambda _: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert connection_limits(ServerSection(max_connections=5000)).max_connections == 5000
