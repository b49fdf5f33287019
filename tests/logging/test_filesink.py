"""The JSON-lines file sink: rotation with exact line accounting, flush and close, lines
after close, the writer never blocking the caller, and lines flushed at interpreter exit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from logsupport import Configure, file_section, read_jsonl, rotated_files

from agentrt.errors import ConfigError
from agentrt.logging import RotatingFileSink, get_logger


def _all_records(path: Path) -> list[dict[str, Any]]:
    return [record for file in rotated_files(path) for record in read_jsonl(file)]


def test_creates_parent_directories_and_writes_json_lines(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "agentrt.jsonl"
    handle = configure(file_section(path))
    get_logger("agentrt.test").info("hello", n=1)
    handle.flush()

    assert handle.file_path == path
    [record] = read_jsonl(path)
    assert (record["event"], record["n"], record["level"], record["logger"]) == ("hello", 1, "info", "agentrt.test")


def test_rotation_from_many_threads_keeps_every_line_exactly_once(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    threads, per_thread, max_bytes = 8, 1500, 100_000
    # ~150-byte lines: ~1.8 MB in all, ~18 files; 100 backups, so no drop is legitimate.
    handle = configure(file_section(path, max_bytes=max_bytes, backups=100))
    log = get_logger("agentrt.test")
    start = threading.Barrier(threads)

    def work(thread: int) -> None:
        start.wait()
        for i in range(per_thread):
            log.info("line", thread=thread, i=i, pad="x" * 40)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    handle.flush()

    files = rotated_files(path)
    assert len(files) > 10, "rotation happened many times"
    assert all(file.stat().st_size <= max_bytes for file in files)
    seen = [(r["thread"], r["i"]) for r in _all_records(path)]
    assert len(seen) == threads * per_thread
    assert set(seen) == {(t, i) for t in range(threads) for i in range(per_thread)}
    # Within one thread, lines stay in order across files (files are newest first).
    ordered = [(r["thread"], r["i"]) for file in reversed(files) for r in read_jsonl(file)]
    for thread in range(threads):
        assert [i for t, i in ordered if t == thread] == list(range(per_thread))


def test_the_oldest_backup_is_dropped(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path, max_bytes=2_000, backups=2))
    log = get_logger("agentrt.test")
    for i in range(500):
        log.info("line", i=i)
    handle.flush()

    files = rotated_files(path)
    assert [f.name for f in files] == ["agentrt.jsonl", "agentrt.jsonl.1", "agentrt.jsonl.2"]
    assert not Path(f"{path}.3").exists()
    kept = [r["i"] for file in reversed(files) for r in read_jsonl(file)]
    assert kept == list(range(500 - len(kept), 500)), "the newest lines, contiguous, oldest first"


def test_no_backups_truncates_and_continues(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path, max_bytes=2_000, backups=0))
    log = get_logger("agentrt.test")
    for i in range(300):
        log.info("line", i=i)
    handle.flush()

    assert rotated_files(path) == [path]
    assert path.stat().st_size <= 2_000
    kept = [r["i"] for r in read_jsonl(path)]
    assert kept[-1] == 299
    assert kept == list(range(kept[0], 300))


def test_a_line_longer_than_max_bytes_gets_a_file_of_its_own(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path, max_bytes=300, backups=5))
    log = get_logger("agentrt.test")
    log.info("small", i=0)
    log.info("huge", blob="y" * 1000)
    log.info("small", i=1)
    handle.flush()

    contents = [[r["event"] for r in read_jsonl(f)] for f in reversed(rotated_files(path))]
    assert contents == [["small"], ["huge"], ["small"]]


def test_appends_to_an_existing_file_and_counts_its_size(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    path.write_bytes(b'{"event":"from_before"}\n' * 50)  # 1200 bytes
    handle = configure(file_section(path, max_bytes=1_300, backups=1))
    get_logger("agentrt.test").info("new_line", pad="z" * 200)
    handle.flush()

    assert [r["event"] for r in read_jsonl(Path(f"{path}.1"))] == ["from_before"] * 50
    assert [r["event"] for r in read_jsonl(path)] == ["new_line"]


def test_flush_and_close_are_idempotent(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path))
    sink = handle.file_sink
    assert sink is not None
    get_logger("agentrt.test").info("one")
    handle.flush()
    handle.flush()
    handle.close()
    handle.close()
    handle.flush()  # harmless after close
    sink.close()
    sink.flush()

    assert sink.closed
    assert [r["event"] for r in read_jsonl(path)] == ["one"]


def test_close_writes_what_was_queued(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    sink = RotatingFileSink(path, max_bytes=0, backups=0)
    for i in range(2000):
        sink.emit({"event": "queued", "i": i})
    sink.close()

    assert [r["i"] for r in read_jsonl(path)] == list(range(2000))


def test_a_line_emitted_after_close_is_still_written(tmp_path: Path) -> None:
    # A logger holding the old sink across a reconfigure may emit after close.
    path = tmp_path / "agentrt.jsonl"
    sink = RotatingFileSink(path, max_bytes=0, backups=0)
    sink.emit({"event": "before"})
    sink.close()
    sink.emit({"event": "after"})

    assert [r["event"] for r in read_jsonl(path)] == ["before", "after"]


def test_logging_returns_while_the_writer_is_blocked(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path))
    sink = handle.file_sink
    assert sink is not None
    log = get_logger("agentrt.test")
    log.info("before")
    handle.flush()

    with sink.paused():  # the writer cannot touch the file until the block ends
        for i in range(1000):
            log.info("while_blocked", i=i)
        # Every call above returned although nothing could be written.
        assert [r["event"] for r in read_jsonl(path)] == ["before"]
    handle.flush()

    assert [r.get("i") for r in read_jsonl(path)] == [None, *range(1000)]


async def test_the_event_loop_keeps_running_while_the_writer_is_blocked(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path))
    sink = handle.file_sink
    assert sink is not None
    log = get_logger("agentrt.test")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def producer() -> None:
        for i in range(200):
            log.info("from_a_task", i=i)
            await asyncio.sleep(0)

    with sink.paused():
        tick_task = asyncio.create_task(ticker())
        await asyncio.wait_for(producer(), timeout=10)
        tick_task.cancel()
        assert ticks >= 100, "other tasks ran between the log calls"
        assert path.read_bytes() == b""
    handle.flush()

    assert len(read_jsonl(path)) == 200


def test_an_unopenable_path_is_a_config_error(configure: Configure, tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()

    with pytest.raises(ConfigError) as caught:
        configure(file_section(directory))
    assert caught.value.problems[0].path == "logging.file.path"


def test_lines_are_flushed_at_exit_when_close_is_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import structlog
        from logsupport import file_section
        from agentrt.logging import configure_logging

        configure_logging(file_section({str(path)!r}, max_bytes=50_000, backups=100))
        log = structlog.get_logger("agentrt.exit")
        for i in range(5000):
            log.info("line", i=i)
        # no flush, no close
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, env=env)

    assert sorted(r["i"] for r in _all_records(path)) == list(range(5000))
