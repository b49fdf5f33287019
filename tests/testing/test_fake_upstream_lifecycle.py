"""FakeUpstream's lifetime, its thread and command-line modes, and the script's own rules."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest
from fake_upstream_support import OPENAI_CHAT, openai_body, post_json
from hypothesis import given
from hypothesis import strategies as st

from agentrt.errors import RuntimeStateError
from agentrt.testing import FakeUpstream, Fault, Reply
from agentrt.testing._neutral import embedding_vector
from agentrt.testing._script import ScriptBook


def sync_post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_lifetime_states() -> None:
    upstream = FakeUpstream()
    with pytest.raises(RuntimeStateError, match="not started"):
        _ = upstream.url

    await upstream.start()
    url = upstream.url
    assert url.startswith("http://127.0.0.1:")
    assert upstream.openai_base_url == url + "/v1"
    assert upstream.anthropic_base_url == upstream.google_base_url == url
    with pytest.raises(RuntimeStateError, match="already serving"):
        await upstream.start()

    await upstream.stop()
    await upstream.stop()  # harmless twice
    with pytest.raises(RuntimeStateError, match="was stopped"):
        _ = upstream.url
    with pytest.raises(RuntimeStateError, match="create a new one"):
        await upstream.start()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_json(session, url + OPENAI_CHAT, openai_body(), {})


def test_in_thread_serves_sync_code() -> None:
    with FakeUpstream.in_thread(api_key="k") as upstream:
        upstream.script(Reply(text="from the thread"))
        status, body = sync_post(upstream.url + OPENAI_CHAT, openai_body(), {"Authorization": "Bearer k"})
        refused, _ = sync_post(upstream.url + OPENAI_CHAT, openai_body(), {"Authorization": "Bearer nope"})
        recorded = list(upstream.requests)
        url = upstream.url

    assert (status, body["choices"][0]["message"]["content"]) == (200, "from the thread")
    assert refused == 401
    assert [r.model for r in recorded] == ["gpt-4o-mini", "gpt-4o-mini"]
    with pytest.raises(urllib.error.URLError):
        sync_post(url + OPENAI_CHAT, openai_body())


def test_command_line_serves_until_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "agentrt.testing.fake_upstream", "--port", "0", "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        status, body = sync_post(url + OPENAI_CHAT, openai_body("cli"), {"Authorization": "Bearer cli-key"})
        assert (status, body["choices"][0]["message"]["content"]) == (200, "echo: cli")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)

    assert process.returncode == 0
    assert stderr == ""  # no warning (e.g. the module imported twice), no traceback


def test_importing_the_script_types_does_not_import_aiohttp() -> None:
    code = (
        "import sys\n"
        "from agentrt.testing import Reply, Fault, RecordedRequest\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Reply(chunk_size=0),
        lambda: Reply(delay=-1),
        lambda: Fault(times=0),
        lambda: Fault(status=200),
        lambda: Fault(cut_stream_after=-1),
        lambda: FakeUpstream(embedding_dim=0),
    ],
    ids=["chunk_size", "reply_delay", "times", "status", "cut", "embedding_dim"],
)
def test_invalid_settings_are_refused(make: Any) -> None:
    with pytest.raises(ValueError, match="use"):
        make()


def test_script_refuses_other_items() -> None:
    upstream = FakeUpstream()
    with pytest.raises(TypeError, match="Reply, Fault or Recorded"):
        upstream.script("hello")  # type: ignore[arg-type]


items = st.one_of(
    st.builds(Reply, text=st.text(max_size=5)),
    st.builds(Fault, status=st.sampled_from([429, 500, 503]), times=st.integers(1, 3)),
)


@given(st.lists(items, max_size=8), st.integers(0, 4))
def test_script_answers_each_item_times_over_then_echo(queued: list[Reply | Fault], extra: int) -> None:
    book = ScriptBook()
    book.add(tuple(queued))
    expected = [item for item in queued for _ in range(item.times if isinstance(item, Fault) else 1)]

    taken = [book.take("any-model") for _ in range(len(expected) + extra)]

    assert taken[: len(expected)] == expected
    assert taken[len(expected) :] == [Reply()] * extra


@given(st.text(max_size=50), st.integers(1, 64))
def test_embeddings_are_unit_vectors_of_the_asked_size(text: str, dim: int) -> None:
    vector = embedding_vector(text, dim)

    assert len(vector) == dim
    assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-5)
    assert vector == embedding_vector(text, dim)
