"""Levels: the global level, per-logger levels by dotted prefix, the file's own level, and
levels that follow a reconfigure, also for loggers cached or bound before it."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from logsupport import Configure, Console, File, Section, read_jsonl

from agentrt.logging import get_logger


def _events(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line.split(" event=", 1)[1].split(" ", 1)[0] for line in capsys.readouterr().err.splitlines()]


def test_global_level_filters_below_it(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section(level="warning"))
    log = structlog.get_logger("agentrt.runtime")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")

    assert _events(capsys) == ["w", "e", "c"]


def test_per_logger_levels_match_dotted_prefixes(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(
        Section(
            level="info",
            levels={"agentrt.providers": "debug", "agentrt.providers.noisy": "error", "agentrt.policy": "warning"},
        )
    )
    get_logger("agentrt.providers").debug("exact")
    get_logger("agentrt.providers.openai").debug("child")
    get_logger("agentrt.providers.openai.stream").debug("grandchild")
    get_logger("agentrt.providersx").debug("not_a_child")  # same prefix string, different logger
    get_logger("agentrt.providers.noisy").warning("longest_prefix_wins")
    get_logger("agentrt.providers.noisy").error("noisy_error")
    get_logger("agentrt.policy").info("policy_info")
    get_logger("agentrt.runtime").debug("runtime_debug")
    get_logger("agentrt.runtime").info("runtime_info")

    assert _events(capsys) == ["exact", "child", "grandchild", "noisy_error", "runtime_info"]


def test_is_enabled_for_reports_the_effective_level(configure: Configure) -> None:
    configure(Section(level="info", levels={"agentrt.providers": "debug"}))

    assert get_logger("agentrt.providers.openai").is_enabled_for(10)
    assert not get_logger("agentrt.runtime").is_enabled_for(10)
    assert get_logger("agentrt.runtime").get_effective_level() == 20


def test_log_method_takes_numeric_levels(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section(level="info"))
    log = get_logger("agentrt.test")
    log.log(10, "numeric_debug")
    log.log(30, "numeric_warning")

    line = capsys.readouterr().err
    assert "numeric_debug" not in line
    assert "level=warning" in line


def test_the_file_has_its_own_level(configure: Configure, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(Section(level="warning", file=File(path, level="debug")))
    log = get_logger("agentrt.test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    handle.flush()

    assert _events(capsys) == ["w"]
    assert [r["event"] for r in read_jsonl(path)] == ["d", "i", "w"]


def test_per_logger_levels_apply_to_the_file_too(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(
        Section(console=Console(format="off"), file=File(path, level="debug"), levels={"agentrt.chatty": "error"})
    )
    get_logger("agentrt.chatty").warning("dropped")
    get_logger("agentrt.chatty").error("kept")
    handle.flush()

    assert [r["event"] for r in read_jsonl(path)] == ["kept"]


def test_loggers_cached_or_bound_before_a_reconfigure_follow_it(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = configure(Section(level="info"))
    proxy = structlog.get_logger("agentrt.agents")
    proxy.info("first_use_caches_it")
    bound = proxy.bind(agent="ticket-42")
    bound.debug("filtered_at_info")

    handle.reconfigure(Section(level="debug"))
    proxy.debug("proxy_debug")
    bound.debug("bound_debug")

    handle.reconfigure(Section(level="error"))
    proxy.warning("proxy_filtered")
    bound.error("bound_error")

    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" event=")[1].split(" ")[0] for line in lines] == [
        "first_use_caches_it",
        "proxy_debug",
        "bound_debug",
        "bound_error",
    ]
    assert lines[2].endswith("agent=ticket-42")


def test_no_sink_means_everything_is_filtered(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section(console=Console(format="off")))
    log = get_logger("agentrt.test")

    assert not log.is_enabled_for(50)
    log.critical("nowhere")
    assert capsys.readouterr() == ("", "")
