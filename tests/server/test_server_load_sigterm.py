"""A bounded load test against a real `agentrt serve` process, with SIGTERM sent in the middle.

32 clients send plain and streamed chat completions as fast as they can; once
enough answers came back, the server gets SIGTERM. Every request must end in a
complete answer or a clean error: a refused connection, or a connection closed
before any byte of a response. A truncated body, a stream without ``[DONE]``,
or a reset mid-response fails the test. The process must exit 0. The loop
stops by itself (all clients refused, or a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import yaml
from server_support import USER_KEY, auth, server_config

from agentrt.store import open_store
from agentrt.testing import FakeUpstream, Fault

CLIENTS = 32
ANSWERS_BEFORE_SIGTERM = 300
DEADLINE = 20.0  # seconds: a safety net for a broken server, never reached when it works


def serve_command(config: Path) -> list[str]:
    """`agentrt serve` as the CLI runs it, or the command's module until the app lists it."""
    from agentrt.cli._app import app

    args = ["serve", "--config", str(config), "--port", "0"]
    if any(command.name == "serve" for command in app.registered_commands):
        return [sys.executable, "-c", "from agentrt.cli import main; main()", *args]
    return [sys.executable, "-m", "agentrt.cli.serve_cmd", *args[1:]]


@dataclass
class Tally:
    complete: int = 0
    refused: int = 0
    closed_before_answer: int = 0
    finished_after_sigterm: int = 0  # started before SIGTERM, answered completely after it
    broken: list[str] = field(default_factory=list)
    sigterm_at: float | None = None
    enough: asyncio.Event = field(default_factory=asyncio.Event)  # set once ANSWERS_BEFORE_SIGTERM came back


def complete_answer(streamed: bool, body: bytes) -> bool:
    if not streamed:
        data = orjson.loads(body)
        return bool(data["choices"][0]["message"]["content"]) and data["usage"]["total_tokens"] > 0
    events = body.split(b"\n\n")
    if events[-2:] != [b"data: [DONE]", b""]:
        return False
    chunks = [orjson.loads(e.removeprefix(b"data: ")) for e in events[:-2]]
    return bool(chunks[-1]["choices"][0]["finish_reason"] == "stop")


async def client(session: aiohttp.ClientSession, url: str, number: int, tally: Tally, deadline: float) -> None:
    streamed = number % 2 == 1
    body = {"model": "default", "messages": [{"role": "user", "content": f"client {number}"}], "stream": streamed}
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            response = await session.post(url + "/v1/chat/completions", json=body, headers=auth(USER_KEY))
        except aiohttp.ClientConnectorError:
            tally.refused += 1  # the server stopped listening: this client is done
            return
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # Closed or reset before any byte of an answer: a connection the server closed as idle,
            # or one still in the listen backlog when the port closed. The next try gets a refusal.
            tally.closed_before_answer += 1
            continue
        async with response:
            try:
                raw = await response.read()
                ok = response.status == 200 and complete_answer(streamed, raw)
            except Exception as err:  # after the headers: a truncated or reset answer
                tally.broken.append(f"{type(err).__name__}: {err}")
                continue
        if not ok:
            tally.broken.append(f"status {response.status}: {raw[-200:]!r}")
            continue
        tally.complete += 1
        if tally.complete >= ANSWERS_BEFORE_SIGTERM:
            tally.enough.set()
        if tally.sigterm_at is not None and started < tally.sigterm_at:
            tally.finished_after_sigterm += 1


async def test_every_request_completes_or_fails_cleanly_across_a_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "serve.jsonl"
    async with FakeUpstream() as up:
        up.script(Fault(delay=0.02, times=10**6))  # every answer takes 20 ms: requests are in flight at SIGTERM
        config_file = write_config(up, tmp_path, log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTRT")}
        with (tmp_path / "serve.stderr").open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(*serve_command(config_file), env=env, stderr=stderr)
        try:
            url = await listening_url(log, proc)
            tally = Tally()
            deadline = time.monotonic() + DEADLINE
            connector = aiohttp.TCPConnector(limit=CLIENTS)
            async with aiohttp.ClientSession(connector=connector) as session:
                clients = [asyncio.create_task(client(session, url, n, tally, deadline)) for n in range(CLIENTS)]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(tally.enough.wait(), DEADLINE)
                tally.sigterm_at = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                await asyncio.gather(*clients)
            returncode = await asyncio.wait_for(proc.wait(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        reached_provider = len(up.requests)
    assert tally.broken == [], tally.broken[:5]
    assert returncode == 0, read_tail(tmp_path / "serve.stderr")
    assert tally.complete >= ANSWERS_BEFORE_SIGTERM
    assert tally.refused == CLIENTS  # every client ended on a refused connection, none on the deadline
    assert tally.finished_after_sigterm > 0  # requests in flight at SIGTERM were answered, not dropped
    events = log_events(log)
    assert events.index("server_stopping") < events.index("server_stopped") < events.index("runtime_stopped")
    # The ledger, flushed at shutdown, has a row for every call answered, and for nothing else.
    async with open_store(f"sqlite:///{tmp_path / 'agentrt.db'}") as store:
        (ok_rows,) = await store.fetchone("SELECT COUNT(*) FROM agentrt_usage WHERE outcome = 'ok'") or (0,)
    assert ok_rows >= tally.complete
    assert ok_rows == reached_provider


def write_config(up: FakeUpstream, tmp_path: Path, log: Path) -> Path:
    config = server_config(up, tmp_path)
    config["logging"] = {"console": {"format": "off"}, "file": {"path": str(log)}}
    path = tmp_path / "agentrt.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def log_events(log: Path) -> list[str]:
    return [orjson.loads(line)["event"] for line in log.read_bytes().splitlines()] if log.exists() else []


def read_tail(path: Path) -> str:
    return path.read_text()[-2000:]


def logged_url(log: Path) -> str | None:
    if log.exists():
        for line in log.read_bytes().splitlines():
            record = orjson.loads(line)
            if record["event"] == "server_listening":
                return str(record["url"])
    return None


async def listening_url(log: Path, proc: asyncio.subprocess.Process) -> str:
    """The URL the server logged once it listened (it picked a free port)."""
    for _ in range(1000):
        url = logged_url(log)
        if url is not None:
            return url
        if proc.returncode is not None:
            raise AssertionError(f"agentrt serve exited with {proc.returncode}")
        await asyncio.sleep(0.01)
    raise AssertionError("agentrt serve did not log server_listening within 10 s")
