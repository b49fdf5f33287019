"""The reader behind ``agentrt logs``: filters, malformed lines, following across rotation,
and the one-line display."""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from logsupport import Configure, file_section

from agentrt.logging import format_record, get_logger, read_records
from agentrt.logging.reader import LEVELS


def _write(path: Path, *lines: Any) -> None:
    with path.open("ab") as file:
        for line in lines:
            file.write(line if isinstance(line, bytes) else orjson.dumps(line))
            file.write(b"\n")


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "agentrt.jsonl"
    _write(
        path,
        {"ts": "2026-05-09T07:35:25.123456Z", "level": "debug", "logger": "agentrt.x", "event": "d"},
        {"ts": "2026-05-09T07:35:25.200000Z", "level": "info", "logger": "agentrt.x", "event": "i", "user": "alice"},
        b"this is not json",
        {"ts": "2026-05-09T07:35:26.000000Z", "level": "warning", "event": "w", "user": "bob", "n": 3},
        b"",
        b"[1, 2]",
        {"ts": "2026-05-09T07:35:27.000000Z", "level": "error", "event": "e", "user": "alice", "ok": False},
    )
    return path


def test_reads_every_record_and_turns_malformed_lines_into_records(sample: Path) -> None:
    records = list(read_records(sample))

    assert [r["event"] for r in records] == ["d", "i", "this is not json", "w", "[1, 2]", "e"]
    assert records[2] == {"event": "this is not json", "level": "unknown"}


def test_level_keeps_that_level_and_above(sample: Path) -> None:
    assert [r["event"] for r in read_records(sample, level="warning")] == ["w", "e"]
    assert [r["event"] for r in read_records(sample, level="INFO")] == ["i", "w", "e"]
    with pytest.raises(ValueError, match="unknown level"):
        list(read_records(sample, level="loud"))
    assert LEVELS == ("debug", "info", "warning", "error", "critical")


def test_grep_keeps_records_where_every_pair_matches_as_text(sample: Path) -> None:
    assert [r["event"] for r in read_records(sample, grep=[("user", "alice")])] == ["i", "e"]
    assert [r["event"] for r in read_records(sample, grep=[("user", "alice"), ("ok", "false")])] == ["e"]
    assert [r["event"] for r in read_records(sample, grep=[("n", "3")])] == ["w"]
    assert list(read_records(sample, grep=[("missing", "x")])) == []


def test_a_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    path.write_bytes(b'{"event":"complete"}\n{"event":"partial"}')

    assert [r["event"] for r in read_records(path)] == ["complete", "partial"]


def test_a_missing_file_raises_without_follow(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read_records(tmp_path / "nope.jsonl"))


def _at_least(items: list[int], count: int) -> bool:
    return len(items) >= count


def test_follow_keeps_reading_across_rotations(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path, max_bytes=3_000, backups=50))
    log = get_logger("agentrt.test")
    total, chunk = 300, 15  # a chunk is ~1.5 KB: the follower is never more than one rotation behind
    received: list[int] = []
    caught_up = threading.Condition()

    def follow() -> None:
        for record in read_records(path, follow=True, poll_interval=0.005, grep=[("event", "tick")]):
            with caught_up:
                received.append(int(record["i"]))
                caught_up.notify_all()
            if len(received) == total:
                return

    log.info("tick", i=0)
    handle.flush()
    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    for start in range(1, total, chunk):
        end = min(start + chunk, total)
        for i in range(start, end):
            log.info("tick", i=i)
        handle.flush()
        with caught_up:
            assert caught_up.wait_for(partial(_at_least, received, end), timeout=10)
    follower.join(timeout=10)

    assert not follower.is_alive()
    assert handle.file_sink is not None
    assert handle.file_sink.rotations >= 5
    assert received == list(range(total))


def test_follow_survives_truncation(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    _write(path, {"event": "before", "i": 0}, {"event": "before", "i": 1})
    received: list[str] = []
    got = threading.Event()

    def follow() -> None:
        for record in read_records(path, follow=True, poll_interval=0.005):
            received.append(str(record["event"]))
            got.set()
            if record["event"] == "after":
                return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert got.wait(5)
    while len(received) < 2:
        got.wait(0.01)
    path.write_bytes(b"")  # truncated in place, as backups: 0 does
    _write(path, {"event": "after"})
    follower.join(timeout=10)

    assert not follower.is_alive()
    assert received == ["before", "before", "after"]


def test_format_record_is_one_readable_line() -> None:
    record = {
        "ts": "2026-05-09T07:35:25.123456Z",
        "level": "info",
        "logger": "agentrt.runtime",
        "event": "started",
        "version": 3,
        "note": "a b",
    }
    assert format_record(record, color=False) == '07:35:25.123 INFO     agentrt.runtime started version=3 note="a b"'
    assert format_record(record, color=True) == (
        '07:35:25.123 \x1b[32mINFO    \x1b[0m agentrt.runtime started version=3 note="a b"'
    )


def test_format_record_copes_with_odd_records() -> None:
    assert format_record({"event": "raw line", "level": "unknown"}, color=True) == "--:--:--.--- UNKNOWN  raw line"
    assert format_record({"ts": "2026-05-09T07:35:25Z", "level": "error", "event": "multi\nline"}, color=False) == (
        "07:35:25.000 ERROR    multi\\nline"
    )


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20) | st.integers(), max_size=5))
def test_format_record_is_always_one_line(extra: dict[str, Any]) -> None:
    record = {"ts": "2026-05-09T07:35:25.1Z", "level": "warning", "event": "e", **extra}
    assert "\n" not in format_record(record, color=False)
