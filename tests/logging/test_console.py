"""The console sink: the exact shape of each format, the stream, and logfmt quoting."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
import structlog
from logsupport import Configure, Console, File, Section, read_jsonl

from agentrt.logging import get_logger

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


def test_logfmt_is_the_default_and_puts_ts_level_logger_event_first(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section())
    structlog.get_logger("agentrt.runtime").info("started", version=3, name="support desk")

    captured = capsys.readouterr()
    assert captured.out == ""
    line = captured.err
    assert re.fullmatch(
        rf'ts={TS} level=info logger=agentrt.runtime event=started version=3 name="support desk"\n', line
    ), line


def test_logfmt_quotes_and_escapes_what_would_break_the_line(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section())
    get_logger("agentrt.test").warning(
        "odd values",
        spaces="a b",
        quote='say "hi"',
        equals="a=b",
        newline="one\ntwo",
        backslash="C:\\tmp",
        empty="",
        none=None,
        flag=True,
        ratio=0.5,
        items=[1, "x"],
        plain="gpt-4o-mini",
    )
    line = capsys.readouterr().err
    assert line.count("\n") == 1, "one event, one line"
    body = line.split(" level=warning logger=agentrt.test ", 1)[1]
    assert body == (
        'event="odd values" spaces="a b" quote="say \\"hi\\"" equals="a=b" newline="one\\ntwo" '
        'backslash="C:\\\\tmp" empty="" none=null flag=true ratio=0.5 items="[1,\\"x\\"]" '
        "plain=gpt-4o-mini\n"
    )


def test_json_format_is_one_object_per_line_in_canonical_key_order(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section(console=Console(format="json")))
    log = structlog.get_logger("agentrt.calls")
    log.info("call_done", model="gpt-4o-mini", tokens=12)
    log.error("call_failed", reason='quote " and\nnewline')

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (orjson.loads(line) for line in lines)
    assert list(first) == ["ts", "level", "logger", "event", "model", "tokens"]
    assert re.fullmatch(TS, first["ts"])
    assert first | {"ts": None} == {
        "ts": None,
        "level": "info",
        "logger": "agentrt.calls",
        "event": "call_done",
        "model": "gpt-4o-mini",
        "tokens": 12,
    }
    assert second["level"] == "error"
    assert second["reason"] == 'quote " and\nnewline'


def test_pretty_format_uses_structlogs_console_renderer_without_colours_off_a_tty(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section(console=Console(format="pretty")))
    structlog.get_logger("agentrt.runtime").info("started", version=3)

    line = capsys.readouterr().err
    assert "\x1b[" not in line, "captured stderr is not a TTY: no colours"
    assert re.fullmatch(rf"{TS} \[info\s*\] started\s+\[agentrt\.runtime\] version=3\n", line), line


def test_off_writes_nothing(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section(console=Console(format="off")))
    structlog.get_logger("agentrt.runtime").error("nobody hears this")

    assert capsys.readouterr() == ("", "")


def test_stdout_stream(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section(console=Console(stream="stdout")))
    structlog.get_logger("agentrt.runtime").info("to_stdout")

    captured = capsys.readouterr()
    assert captured.err == ""
    assert "event=to_stdout" in captured.out


def test_positional_arguments_are_interpolated(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section())
    log = get_logger("agentrt.test")
    log.info("%d calls to %s", 3, "openai")
    log.info("%(n)d calls", {"n": 4})

    lines = capsys.readouterr().err.splitlines()
    assert 'event="3 calls to openai"' in lines[0]
    assert 'event="4 calls"' in lines[1]


def test_reserved_keys_cannot_be_overwritten_by_the_caller(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section(console=Console(format="json")))
    get_logger("agentrt.test").info("x", level="not-a-level", logger="someone-else")

    record = orjson.loads(capsys.readouterr().err)
    assert record["level"] == "info"
    assert record["logger"] == "agentrt.test"


async def test_async_methods_log_like_the_sync_ones(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section())
    log = get_logger("agentrt.test")
    await log.ainfo("async_event", n=1)
    await log.adebug("filtered")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        await log.aexception("async_failure")

    lines = capsys.readouterr().err.splitlines()
    assert "event=async_event n=1" in lines[0]
    assert "level=error" in lines[1]
    assert "event=async_failure" in lines[1]
    assert "RuntimeError: boom" in lines[1]
    assert len(lines) == 2


def test_an_unnamed_logger_has_no_logger_key(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section())
    structlog.get_logger().info("anonymous")

    assert re.fullmatch(rf"ts={TS} level=info event=anonymous\n", capsys.readouterr().err)


def test_console_and_file_receive_the_same_event(
    configure: Configure, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(Section(file=File(path)))
    get_logger("agentrt.test").info("both", n=1)
    handle.flush()

    [record] = read_jsonl(path)
    line = capsys.readouterr().err
    assert line == f"ts={record['ts']} level=info logger=agentrt.test event=both n=1\n"
