"""Records of the stdlib logging module (aiohttp, asyncio...) reach the same sinks, in the same
format, at WARNING and above unless ``levels`` names them."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from logsupport import Configure, Console, File, Section, read_jsonl

from agentrt.logging import bind_context

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


def test_warnings_are_routed_in_the_console_format(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section())
    stdlib = logging.getLogger("aiohttp.client")
    stdlib.info("chatty detail")
    stdlib.warning("connection to %s lost", "api.example.com", extra={"attempt": 2})

    line = capsys.readouterr().err
    assert re.fullmatch(
        rf'ts={TS} level=warning logger=aiohttp.client event="connection to api.example.com lost" attempt=2\n',
        line,
    ), line


def test_levels_open_up_named_stdlib_loggers(configure: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    configure(Section(levels={"aiohttp": "debug"}))
    logging.getLogger("aiohttp.client").debug("now visible")
    logging.getLogger("asyncio").info("still hidden")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert 'level=debug logger=aiohttp.client event="now visible"' in lines[0]


def test_a_higher_global_level_applies_to_stdlib_records_too(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(Section(level="error"))
    logging.getLogger("watchfiles").warning("hidden")
    logging.getLogger("watchfiles").error("shown")

    assert "event=shown" in capsys.readouterr().err


def test_records_go_to_the_file_with_context_and_exceptions(configure: Configure, tmp_path: Path) -> None:
    path = tmp_path / "agentrt.jsonl"
    handle = configure(Section(console=Console(format="off"), file=File(path)))
    with bind_context(request_id="r-5"):
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=True)
    handle.flush()

    [record] = read_jsonl(path)
    assert (record["level"], record["logger"], record["request_id"]) == ("error", "asyncio", "r-5")
    assert "ZeroDivisionError: division by zero" in record["exception"]


def test_close_detaches_the_bridge_and_restores_levels(configure: Configure) -> None:
    root = logging.getLogger()
    named = logging.getLogger("aiohttp")
    handlers_before, root_level, named_level = list(root.handlers), root.level, named.level

    handle = configure(Section(levels={"aiohttp": "debug"}))
    assert len(root.handlers) == len(handlers_before) + 1
    assert named.level == logging.DEBUG
    handle.close()

    assert root.handlers == handlers_before
    assert (root.level, named.level) == (root_level, named_level)


def test_reconfigure_reverts_levels_that_were_removed(configure: Configure) -> None:
    named = logging.getLogger("watchfiles.main")
    original = named.level
    handle = configure(Section(levels={"watchfiles.main": "debug"}))
    assert named.level == logging.DEBUG
    handle.reconfigure(Section())

    assert named.level == original
