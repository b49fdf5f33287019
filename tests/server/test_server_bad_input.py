"""Bad input is a 4xx in OpenAI's error shape, never a 500; request ids travel from the client to the logs."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import sqlite3
from pathlib import Path

import aiohttp
import orjson
import pytest
from server_support import Served, auth, log_records, serving

from agentrt.calls import request_id
from agentrt.testing import FakeUpstream

CHAT = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}


async def _raw(served: Served, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; what the server answers before it closes (or the timeout)."""
    reader, writer = await asyncio.open_connection(served.server.host, served.server.port)
    try:
        writer.write(data)
        await writer.drain()
        chunks = b""
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                chunks += chunk
                if b"\r\n\r\n" in chunks and b'"error"' in chunks:
                    break
        return chunks
    finally:
        writer.close()


def _assert_openai_error(body: bytes) -> dict[str, object]:
    error = orjson.loads(body)["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    return error  # type: ignore[no-any-return]


async def test_a_non_ascii_bearer_key_is_a_401_without_a_traceback(served: Served) -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    body = orjson.dumps(CHAT)
    raw = await _raw(
        served,
        head + b"Authorization: Bearer \xff\xfe\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body,
    )
    assert raw.startswith(b"HTTP/1.1 401"), raw[:200]
    _assert_openai_error(raw.partition(b"\r\n\r\n")[2])
    records = log_records(served.rt)
    assert not [r for r in records if r.get("level") == "error"], records


async def test_a_gzip_header_on_a_plain_body_is_a_400(served: Served, http: aiohttp.ClientSession) -> None:
    headers = {**auth(), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    async with http.post(f"{served.url}/v1/chat/completions", data=orjson.dumps(CHAT), headers=headers) as r:
        assert r.status == 400
        error = _assert_openai_error(await r.read())
        assert error["code"] == "invalid_content_encoding"
    # A real gzip body is read as JSON.
    async with http.post(
        f"{served.url}/v1/chat/completions", data=gzip.compress(orjson.dumps(CHAT)), headers=headers
    ) as r:
        assert r.status == 200, await r.text()


async def test_an_aborted_upload_is_not_logged_as_an_error(served: Served) -> None:
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + auth()["Authorization"].split()[1].encode() + b"\r\nContent-Length: 5000\r\n\r\n"
    )
    for _ in range(5):
        _, writer = await asyncio.open_connection(served.server.host, served.server.port)
        writer.write(head + b'{"model": "def')
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()
    await asyncio.sleep(0.2)
    records = log_records(served.rt)
    assert not [r for r in records if r.get("level") in ("error", "critical")], [
        r for r in records if r.get("level") == "error"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [("stream", "yes"), ("max_tokens", "10"), ("max_completion_tokens", 10.5), ("temperature", "0.5"), ("n", "1")],
)
async def test_types_are_strict(served: Served, http: aiohttp.ClientSession, field: str, value: object) -> None:
    async with http.post(f"{served.url}/v1/chat/completions", json={**CHAT, field: value}, headers=auth()) as r:
        assert r.status == 400
        error = _assert_openai_error(await r.read())
        assert error["param"] == field


async def test_stream_options_types_are_strict(served: Served, http: aiohttp.ClientSession) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": "yes"}}
    async with http.post(f"{served.url}/v1/chat/completions", json=body, headers=auth()) as r:
        assert r.status == 400
        assert _assert_openai_error(await r.read())["param"] == "stream_options.include_usage"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n",
        b"POST /v1/models HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /he\x01althz HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_malformed_http_is_a_400_in_openai_shape(served: Served, request_bytes: bytes) -> None:
    raw = await _raw(served, request_bytes)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", raw[:300]
    assert b"application/json" in head
    _assert_openai_error(body)


# --- request ids ------------------------------------------------------------------------


async def test_a_client_request_id_is_used_returned_and_logged(served: Served, http: aiohttp.ClientSession) -> None:
    headers = {**auth(), "x-request-id": "client-req-42"}
    async with http.post(f"{served.url}/v1/chat/completions", json=CHAT, headers=headers) as r:
        assert r.status == 200
        assert r.headers["x-request-id"] == "client-req-42"
    records = log_records(served.rt)
    call_lines = [r for r in records if r.get("request_id") == "client-req-42"]
    assert call_lines, records


async def test_every_response_has_a_request_id_and_errors_carry_it(served: Served, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{served.url}/healthz") as r:
        first = r.headers["x-request-id"]
    async with http.get(f"{served.url}/healthz") as r:
        assert r.headers["x-request-id"] != first
    async with http.get(f"{served.url}/v1/models", headers={"x-request-id": "abc-1"}) as r:
        assert r.status == 401
        assert r.headers["x-request-id"] == "abc-1"
        assert (await r.json())["error"]["request_id"] == "abc-1"
    async with http.get(f"{served.url}/nowhere") as r:
        assert r.status == 404
        assert (await r.json())["error"]["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize("bad", ["x" * 129, "tab\there", "caf\u00e9"])
async def test_an_unusable_client_request_id_is_replaced(served: Served, http: aiohttp.ClientSession, bad: str) -> None:
    async with http.get(f"{served.url}/healthz", headers={"x-request-id": bad.encode().decode("latin-1")}) as r:
        returned = r.headers["x-request-id"]
    assert returned != bad
    assert 0 < len(returned) <= 128
    assert returned.isprintable()


async def test_the_request_id_reaches_the_call(served: Served, http: aiohttp.ClientSession) -> None:
    seen: list[str | None] = []
    original = served.rt.calls.generate

    async def spy(*args: object, **kwargs: object) -> object:
        seen.append(request_id.get())
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    served.rt.calls.generate = spy  # type: ignore[method-assign]
    async with http.post(f"{served.url}/v1/chat/completions", json=CHAT, headers={**auth(), "x-request-id": "r-7"}):
        pass
    assert seen == ["r-7"]
    assert request_id.get() is None


async def test_a_stream_returns_the_request_id_too(served: Served, http: aiohttp.ClientSession) -> None:
    headers = {**auth(), "x-request-id": "stream-9"}
    body = {**CHAT, "stream": True}
    async with http.post(f"{served.url}/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        assert r.headers["x-request-id"] == "stream-9"
        await r.read()


async def test_the_client_request_id_joins_the_ledger_row_and_the_audit_row(
    up: FakeUpstream, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    from agentrt.store.audit import AuditTrail
    from agentrt.store.ledger import UsageLedger

    database = tmp_path / "store.db"
    async with serving(up, tmp_path, store={"url": f"sqlite:///{database}"}) as s:
        headers = {**auth(), "x-request-id": "join-1"}
        async with http.post(f"{s.url}/v1/chat/completions", json=CHAT, headers=headers) as r:
            assert r.status == 200
        await s.rt.services.get(UsageLedger).flush()
        if AuditTrail in s.rt.services:
            await s.rt.services.get(AuditTrail).flush()
        with contextlib.closing(sqlite3.connect(database)) as db:
            assert db.execute("SELECT request_id FROM agentrt_usage").fetchall() == [("join-1",)]
            assert ("join-1",) in db.execute("SELECT request_id FROM agentrt_audit").fetchall()
