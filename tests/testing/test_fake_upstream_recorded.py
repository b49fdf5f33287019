"""Recorded replies, httprr traces, the --lenient switch, and what strictness costs at start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from fake_upstream_support import (
    ANTHROPIC_HEADERS,
    ANTHROPIC_MESSAGES,
    OPENAI_CHAT,
    OPENAI_HEADERS,
    anthropic_body,
    openai_body,
)

from agentrt.testing import FakeUpstream, Recorded
from agentrt.testing._recorded import read_httprr
from agentrt.testing.fake_upstream import main

RECORDED = Path(__file__).parent.parent / "fixtures" / "recorded"


def test_pieces_cycle_through_the_sizes_and_keep_every_byte() -> None:
    recorded = Recorded(b"abcdefghij", chunk_sizes=(1, 3))
    assert recorded.pieces() == [b"a", b"bcd", b"e", b"fgh", b"i", b"j"]
    assert recorded.content_type == "text/event-stream"
    assert Recorded(b' {"a": 1}').content_type == "application/json"


def test_a_recording_is_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "answer.json"
    path.write_bytes(b"[1]")
    assert Recorded(path).body == b"[1]"
    with pytest.raises(ValueError, match="cannot read the recording"):
        Recorded(tmp_path / "missing.sse")


@pytest.mark.parametrize("sizes", [(), (0,), (3, -1)])
def test_chunk_sizes_must_be_positive(sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="use one or more sizes of 1 or more"):
        Recorded(b"x", chunk_sizes=sizes)


def test_httprr_traces_parse_into_exchanges() -> None:
    exchanges = read_httprr(RECORDED / "google" / "gemini3_function_calls_stream.httprr")
    assert len(exchanges) == 4
    first = exchanges[0]
    assert first.method == "POST"
    assert first.url.endswith("/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse")
    assert first.request_body.startswith(b'{"contents":')
    assert first.status == 200
    assert first.response_headers["content-type"] == "text/event-stream"
    assert first.response_body.startswith(b"data: {")
    recorded = Recorded.from_httprr(RECORDED / "google" / "text_generate.httprr")
    assert recorded.content_type == "application/json; charset=UTF-8"
    with pytest.raises(ValueError, match="holds 1 exchanges, not 2"):
        Recorded.from_httprr(RECORDED / "google" / "text_generate.httprr", 1)
    with pytest.raises(ValueError, match="not an httprr trace"):
        read_httprr(RECORDED / "openai" / "text_stream.sse")


async def test_a_recorded_stream_is_replayed_byte_for_byte_in_pieces(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    recording = RECORDED / "anthropic" / "tool_use_stream.sse"
    upstream.script(Recorded(recording, chunk_sizes=(7, 1, 13)))
    body = {**anthropic_body(), "stream": True}
    async with session.post(upstream.url + ANTHROPIC_MESSAGES, json=body, headers=ANTHROPIC_HEADERS) as response:
        assert response.content_type == "text/event-stream"
        pieces = [chunk async for chunk in response.content.iter_any()]
    assert b"".join(pieces) == recording.read_bytes()
    assert len(pieces) > 1


async def test_refused_requests_are_recorded_with_the_reason(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    await session.post(upstream.url + OPENAI_CHAT, json=openai_body(), headers={"Authorization": "Bearer wrong"})
    await session.post(upstream.url + OPENAI_CHAT, json={**openai_body(), "top_k": 3}, headers=OPENAI_HEADERS)
    await session.post(upstream.url + OPENAI_CHAT, json=openai_body(), headers=OPENAI_HEADERS)
    assert [r.rejection for r in upstream.requests] == [
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
        "Unrecognized request argument supplied: top_k",
        None,
    ]
    assert upstream.rejected == upstream.requests[:2]


def test_the_cli_takes_lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[object, ...]] = []

    async def fake_serve(*args: object) -> None:
        seen.append(args)

    monkeypatch.setattr("agentrt.testing.fake_upstream._serve", fake_serve)
    assert main(["--lenient"]) == 0
    assert main([]) == 0
    assert [args[-1] for args in seen] == [True, False]


def test_starting_a_strict_fake_imports_no_sdk() -> None:
    """The SDKs' request types load on the first request of their API, so a FakeUpstream starts fast."""
    code = (
        "import asyncio, sys\n"
        "from agentrt.testing import FakeUpstream\n"
        "async def run():\n"
        "    async with FakeUpstream() as up:\n"
        "        pass\n"
        "asyncio.run(run())\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'google.genai') if m in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
