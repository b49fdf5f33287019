"""Graceful shutdown: new connections refused at once, in-flight requests (streams too) finish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from server_support import USER_KEY, auth, log_records, server_config

from agentrt import Runtime
from agentrt.server import HttpServer, serve
from agentrt.testing import FakeUpstream


class GatedUpstream:
    """An OpenAI-format upstream that streams its first chunk, then waits for ``gate`` before the rest,
    so a test decides exactly when a stream in flight may finish."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> GatedUpstream:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.gate.set()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            choices = [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None else []
            chunk = {
                "id": "up-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": choices,
                **extra,
            }
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

        await send({"role": "assistant", "content": "first "})
        self.started.set()
        await self.gate.wait()
        for word in ("second ", "third"):
            await send({"content": word})
        await send({}, "stop")
        choices_less = {
            "id": "up-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body["model"],
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        }
        await response.write(b"data: " + orjson.dumps(choices_less) + b"\n\ndata: [DONE]\n\n")
        await response.write_eof()
        return response


def gated_config(gated: GatedUpstream, tmp_path: Path, up: FakeUpstream) -> dict[str, Any]:
    config = server_config(up, tmp_path)
    config["providers"]["oai"]["base_url"] = gated.url
    return config


@contextlib.asynccontextmanager
async def gated_runtime(tmp_path: Path, up: FakeUpstream) -> AsyncIterator[tuple[Runtime, GatedUpstream]]:
    async with GatedUpstream() as gated, Runtime.open(gated_config(gated, tmp_path, up), plugins=False) as rt:
        yield rt, gated


STREAM = {"model": "default", "messages": [{"role": "user", "content": "go"}], "stream": True}


async def read_events(response: aiohttp.ClientResponse, first_seen: asyncio.Event) -> list[str]:
    events: list[str] = []
    buffer = b""
    async for data in response.content.iter_any():
        buffer += data
        *complete, buffer = buffer.split(b"\n\n")
        events.extend(e.decode() for e in complete)
        if any('"first "' in e for e in events):
            first_seen.set()
    assert buffer == b"", "the stream ended in the middle of an event"
    return events


def text_of(events: list[str]) -> str:
    chunks = [orjson.loads(e.removeprefix("data: ")) for e in events if e != "data: [DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


async def refused(url: str) -> bool:
    """True once a new connection to the server's port is refused (polled: the stop runs concurrently)."""
    async with aiohttp.ClientSession() as fresh:
        for _ in range(500):
            try:
                async with fresh.get(url + "/healthz"):
                    pass
            except aiohttp.ClientConnectorError:
                return True
            await asyncio.sleep(0.01)
    return False


async def test_a_stream_in_flight_completes_while_new_connections_are_refused(tmp_path: Path, up: FakeUpstream) -> None:
    async with gated_runtime(tmp_path, up) as (rt, gated):
        server = HttpServer(rt, port=0)
        await server.start()
        url = server.url
        first_seen = asyncio.Event()
        async with (
            aiohttp.ClientSession() as http,
            http.post(url + "/v1/chat/completions", json=STREAM, headers=auth()) as response,
        ):
            reading = asyncio.create_task(read_events(response, first_seen))
            await first_seen.wait()  # the response is mid-body: headers and a chunk are out
            stopping = asyncio.create_task(server.stop(timeout=10))
            assert await refused(url)
            assert not stopping.done()  # still waiting for the stream
            gated.gate.set()
            events = await reading
        assert await stopping is True
    assert events[-1] == "data: [DONE]"
    assert text_of(events) == "first second third"
    assert [r["event"] for r in log_records(rt) if r["event"].startswith("server_")] == [
        "server_listening",
        "server_stopping",
        "server_stopped",
    ]
    stopping_record = next(r for r in log_records(rt) if r["event"] == "server_stopping")
    assert stopping_record["in_flight"] == 1


async def test_serve_drains_and_returns_when_the_runtime_is_asked_to_shut_down(
    tmp_path: Path, up: FakeUpstream
) -> None:
    async with gated_runtime(tmp_path, up) as (rt, gated):
        serving = asyncio.create_task(serve(rt, port=0))
        for _ in range(500):  # the log line tells the port that was picked
            listening = [r for r in log_records(rt) if r["event"] == "server_listening"]
            if listening:
                break
            await asyncio.sleep(0.01)
        url = listening[0]["url"]
        async with (
            aiohttp.ClientSession() as http,
            http.post(url + "/v1/chat/completions", json=STREAM, headers=auth(USER_KEY)) as response,
        ):
            await gated.started.wait()
            rt.request_shutdown()  # what SIGTERM does under Runtime.run
            assert await refused(url)
            gated.gate.set()
            body = await response.text()
        await serving
    assert body.endswith("data: [DONE]\n\n")
    assert text_of(body.split("\n\n")[:-1]) == "first second third"


async def test_a_request_still_running_after_the_timeout_is_cancelled_and_stop_says_so(
    tmp_path: Path, up: FakeUpstream
) -> None:
    async with gated_runtime(tmp_path, up) as (rt, gated):
        server = HttpServer(rt, port=0)
        await server.start()
        async with aiohttp.ClientSession() as http:
            request = asyncio.create_task(http.post(server.url + "/v1/chat/completions", json=STREAM, headers=auth()))
            await gated.started.wait()
            assert await server.stop(timeout=0.05) is False  # the gate never opens
            with contextlib.suppress(aiohttp.ClientError):
                response = await request
                await response.read()
        records = [r for r in log_records(rt) if r["event"] == "server_stopped"]
    assert records[-1]["cancelled"] == 1


async def test_a_server_starts_once_and_stops_harmlessly_twice(tmp_path: Path, up: FakeUpstream) -> None:
    from agentrt.errors import RuntimeStateError

    async with Runtime.open(server_config(up, tmp_path), plugins=False) as rt:
        server = HttpServer(rt, port=0)
        with pytest.raises(RuntimeStateError):
            _ = server.url
        await server.start()
        with pytest.raises(RuntimeStateError):
            await server.start()
        assert await server.stop() is True
        assert await server.stop() is True
        with pytest.raises(RuntimeStateError):
            await server.start()


async def test_a_client_that_hangs_up_mid_stream_ends_the_call_quietly(tmp_path: Path, up: FakeUpstream) -> None:
    async with gated_runtime(tmp_path, up) as (rt, gated), HttpServer(rt, port=0) as server:
        async with aiohttp.ClientSession() as http:
            response = await http.post(server.url + "/v1/chat/completions", json=STREAM, headers=auth())
            await response.content.readuntil(b'"first "')
            response.close()  # hang up in the middle of the stream
        gated.gate.set()
        for _ in range(500):  # the server notices at its next write
            if any(r["event"] == "http_stream_abandoned" for r in log_records(rt)):
                break
            await asyncio.sleep(0.01)
        events = [r["event"] for r in log_records(rt)]
        async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as health:
            assert health.status == 200
    assert "http_stream_abandoned" in events
    assert "http_unexpected_error" not in events
