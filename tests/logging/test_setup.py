"""configure_logging and LoggingHandle: reconfigure without losing lines, replacing and closing
a configuration, putting structlog back, and invalid sections."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import structlog
from logsupport import Configure, Console, File, Rotate, Section, file_section, read_jsonl, rotated_files

from agentrt.errors import ConfigError, RuntimeStateError
from agentrt.logging import LoggingHandle, configure_logging, get_logger


def test_reconfigure_under_load_loses_no_line(configure: Configure, tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "agentrt.jsonl", tmp_path / "b" / "agentrt.jsonl"
    sections = [
        file_section(first, max_bytes=200_000, backups=100),
        file_section(second, max_bytes=200_000, backups=100),
        file_section(second, max_bytes=100_000, backups=100),  # same file, new rotation
        file_section(second, max_bytes=100_000, backups=100, levels={"agentrt.other": "error"}),
        file_section(first, max_bytes=150_000, backups=100, level="debug"),
    ]
    handle = configure(sections[0])
    log = structlog.get_logger("agentrt.load")
    threads, most = 4, 20_000  # a cap per thread bounds the test on a slow machine
    stop = threading.Event()
    logged = [0] * threads
    all_running = threading.Barrier(threads + 1)

    def work(thread: int) -> None:
        all_running.wait()
        i = 0
        while i < most and not stop.is_set():
            log.info("line", thread=thread, i=i)
            i += 1
        logged[thread] = i

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    all_running.wait()
    for n in range(1, 16):  # every switch happens while all threads are logging
        time.sleep(0.005)
        handle.reconfigure(sections[n % len(sections)])
    stop.set()
    for worker in workers:
        worker.join()
    handle.flush()

    assert min(logged) > 0
    records = [r for path in (first, second) for f in rotated_files(path) for r in read_jsonl(f)]
    seen = sorted((r["thread"], r["i"]) for r in records)
    assert seen == [(t, i) for t in range(threads) for i in range(logged[t])]
    assert read_jsonl(first), "both files received lines"
    assert read_jsonl(second), "both files received lines"


def test_reconfigure_changes_the_console_format(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    handle = configure(Section())
    log = get_logger("agentrt.test")
    log.info("as_logfmt")
    handle.reconfigure(Section(console=Console(format="json")))
    log.info("as_json")
    handle.reconfigure(Section(console=Console(format="off")))
    log.info("nowhere")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("ts=")
    assert lines[1].startswith('{"ts":')


def test_reconfigure_to_a_new_file_switches_and_closes_the_old_one(configure: Configure, tmp_path: Path) -> None:
    handle = configure(file_section(tmp_path / "old.jsonl"))
    old_sink = handle.file_sink
    log = get_logger("agentrt.test")
    log.info("to_old")
    handle.reconfigure(file_section(tmp_path / "new.jsonl"))
    log.info("to_new")
    handle.flush()

    assert old_sink is not None
    assert old_sink.closed
    assert handle.file_path == tmp_path / "new.jsonl"
    assert [r["event"] for r in read_jsonl(tmp_path / "old.jsonl")] == ["to_old"]
    assert [r["event"] for r in read_jsonl(tmp_path / "new.jsonl")] == ["to_new"]


def test_reconfigure_can_remove_and_add_the_file(configure: Configure, tmp_path: Path) -> None:
    handle = configure(Section(console=Console(format="off")))
    assert handle.file_path is None
    handle.reconfigure(file_section(tmp_path / "late.jsonl"))
    get_logger("agentrt.test").info("now_in_a_file")
    handle.reconfigure(Section(console=Console(format="off")))

    assert handle.file_path is None
    assert [r["event"] for r in read_jsonl(tmp_path / "late.jsonl")] == ["now_in_a_file"]


def test_an_invalid_section_raises_every_problem_and_changes_nothing(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(file_section(path))
    bad = Section(
        level="loud",
        console=Console(format="xml", stream="stdfoo"),
        levels={"agentrt.x": "verbose"},
        file=File(path, rotate=Rotate(backups=-1)),
    )

    with pytest.raises(ConfigError) as caught:
        handle.reconfigure(bad)
    assert [p.path for p in caught.value.problems] == [
        "logging.level",
        "logging.console.format",
        "logging.console.stream",
        "logging.levels.agentrt.x",
        "logging.file.rotate.backups",
    ]
    get_logger("agentrt.test").info("still_logging")
    handle.flush()
    assert [r["event"] for r in read_jsonl(path)] == ["still_logging"]


def test_levels_are_case_insensitive_and_warn_means_warning(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section(level="WARN"))
    get_logger("agentrt.test").info("filtered")
    get_logger("agentrt.test").warning("kept")

    assert "event=kept" in capsys.readouterr().err


def test_a_second_configuration_adds_to_the_first_and_closing_it_leaves_the_first_intact(
    configure: Configure, tmp_path: Path
) -> None:
    # One per runtime: a second runtime in the process must not strip the first one's sinks.
    first = configure(file_section(tmp_path / "first.jsonl"), secrets=["first-secret-value"])
    second = configure(file_section(tmp_path / "second.jsonl", level="debug"), secrets=["second-secret-value"])
    log = get_logger("agentrt.test")
    log.info("while_both_are_open", key="first-secret-value and second-secret-value")
    log.debug("only_the_second_wants_debug")
    second.close()
    log.info("after_the_second_closed", key="first-secret-value")
    log.debug("nobody_wants_debug_now")
    first.flush()

    assert not first.closed
    assert second.closed
    assert [r["event"] for r in read_jsonl(tmp_path / "first.jsonl")] == [
        "while_both_are_open",
        "after_the_second_closed",
    ]
    assert [r["event"] for r in read_jsonl(tmp_path / "second.jsonl")] == [
        "while_both_are_open",
        "only_the_second_wants_debug",
    ]
    for path in ("first.jsonl", "second.jsonl"):
        text = (tmp_path / path).read_text()
        assert "secret-value" not in text, path
    first.reconfigure(file_section(tmp_path / "first.jsonl"))  # still usable
    with pytest.raises(RuntimeStateError, match="closed"):
        second.reconfigure(file_section(tmp_path / "second.jsonl"))


def test_two_configurations_on_one_console_print_each_line_once(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section())
    configure(Section(level="debug"))
    get_logger("agentrt.test").info("once")
    get_logger("agentrt.test").debug("debug_once")

    err = capsys.readouterr().err
    assert err.count("event=once") == 1
    assert err.count("event=debug_once") == 1


def test_closing_the_first_of_two_keeps_the_seconds_file_and_redaction(configure: Configure, tmp_path: Path) -> None:
    first = configure(file_section(tmp_path / "first.jsonl"), secrets=["first-secret-value"])
    second = configure(file_section(tmp_path / "second.jsonl"), secrets=["second-secret-value"])
    first.close()
    get_logger("agentrt.test").info("after_first_closed", key="second-secret-value")
    second.flush()

    records = read_jsonl(tmp_path / "second.jsonl")
    assert [r["event"] for r in records] == ["after_first_closed"]
    assert "second-secret-value" not in (tmp_path / "second.jsonl").read_text()


def test_close_puts_back_the_previous_structlog_configuration(tmp_path: Path) -> None:
    before = structlog.get_config()
    log = structlog.get_logger("agentrt.cached")
    with configure_logging(file_section(tmp_path / "a.jsonl")) as handle:
        assert isinstance(handle, LoggingHandle)
        log.info("caches_the_logger_while_configured")
    after = structlog.get_config()

    for key in ("wrapper_class", "logger_factory", "context_class", "cache_logger_on_first_use"):
        assert after[key] == before[key], key
    assert after["processors"] == before["processors"]


def test_capture_logs_sees_events_while_configured_and_after_close(configure: Configure, tmp_path: Path) -> None:
    handle = configure(file_section(tmp_path / "a.jsonl"))
    log = structlog.get_logger("agentrt.captured")
    log.info("first_use_caches_the_logger")

    with structlog.testing.capture_logs() as during:
        log.info("during", n=1)
    handle.close()
    with structlog.testing.capture_logs() as after:
        log.info("after", n=2)

    assert during == [{"event": "during", "n": 1, "log_level": "info"}]
    assert after == [{"event": "after", "n": 2, "log_level": "info"}]


def test_cached_loggers_print_like_structlog_defaults_after_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = structlog.get_logger("agentrt.cached")
    with configure_logging(file_section(tmp_path / "a.jsonl")):
        log.info("while_configured")
    log.info("after_close")

    assert "after_close" in capsys.readouterr().out
