"""bind_context: values on every line inside the block, restored after, isolated between
asyncio tasks, inherited by tasks started inside the block."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import structlog
from logsupport import Configure, Console, Section

from agentrt.logging import bind_context, get_logger


def _records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]


@pytest.fixture
def json_console(configure: Configure) -> None:
    configure(Section(console=Console(format="json")))


@pytest.mark.usefixtures("json_console")
def test_values_are_bound_inside_and_restored_after(capsys: pytest.CaptureFixture[str]) -> None:
    log = get_logger("agentrt.test")
    with bind_context(request_id="r-1", user="alice"):
        log.info("outer")
        with bind_context(request_id="r-2", agent="a-7"):
            log.info("inner")
        log.info("outer_again")
    log.info("outside")

    records = _records(capsys)
    assert [(r.get("request_id"), r.get("user"), r.get("agent")) for r in records] == [
        ("r-1", "alice", None),
        ("r-2", "alice", "a-7"),
        ("r-1", "alice", None),
        (None, None, None),
    ]


@pytest.mark.usefixtures("json_console")
def test_restored_after_an_exception(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="inside"), bind_context(request_id="r-1"):
        raise ValueError("inside")
    get_logger("agentrt.test").info("after")

    assert "request_id" not in _records(capsys)[0]


@pytest.mark.usefixtures("json_console")
def test_explicit_keywords_win_over_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    with bind_context(user="alice"):
        get_logger("agentrt.test").info("call", user="bob")

    assert _records(capsys)[0]["user"] == "bob"


@pytest.mark.usefixtures("json_console")
def test_mixes_with_structlogs_own_contextvars(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.contextvars.bind_contextvars(tenant="acme")
    with bind_context(user="alice"):
        get_logger("agentrt.test").info("call")

    record = _records(capsys)[0]
    assert (record["tenant"], record["user"]) == ("acme", "alice")


@pytest.mark.usefixtures("json_console")
async def test_concurrent_tasks_keep_their_own_context(capsys: pytest.CaptureFixture[str]) -> None:
    log = get_logger("agentrt.test")
    both_bound = asyncio.Barrier(2)

    async def handle(request_id: str) -> None:
        with bind_context(request_id=request_id):
            await both_bound.wait()  # both tasks are inside their block at the same time
            log.info("handling")
            await asyncio.sleep(0)
            log.info("handled")

    await asyncio.gather(handle("r-1"), handle("r-2"))
    log.info("after")

    records = _records(capsys)
    by_request: dict[object, list[object]] = {}
    for record in records[:-1]:
        by_request.setdefault(record["request_id"], []).append(record["event"])
    assert by_request == {"r-1": ["handling", "handled"], "r-2": ["handling", "handled"]}
    assert "request_id" not in records[-1]


@pytest.mark.usefixtures("json_console")
async def test_tasks_started_inside_the_block_inherit_it(capsys: pytest.CaptureFixture[str]) -> None:
    log = get_logger("agentrt.test")

    async def child() -> None:
        log.info("in_child")

    with bind_context(request_id="r-9"):
        task = asyncio.create_task(child())
    await task

    assert _records(capsys)[0]["request_id"] == "r-9"
