"""Hot reload: rt.reload(), the file watcher on the config and its includes, reconfigure, restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from agentrt import Config, Runtime
from agentrt.services import service

BASE = """\
runtime:
  name: reloadable
  watch: {watch}
  watch_debounce: 50ms
logging:
  level: info
  console: {{format: "off"}}
  file: {{path: log.jsonl}}
store:
  url: sqlite:///{db}
providers:
  offline: {{kind: local}}
models: {{include: models.yaml}}
"""

MODELS = """\
small:
  provider: offline
  context_window: {window}
"""


def write_project(root: Path, *, watch: bool = False, window: int = 1000, db: str = "one.db") -> Path:
    (root / "models.yaml").write_text(MODELS.format(window=window), encoding="utf-8")
    path = root / "agentrt.yaml"
    path.write_text(BASE.format(watch=str(watch).lower(), db=db), encoding="utf-8")
    return path


class ModelsView:
    def __init__(self, models: Any) -> None:
        self.models = models
        self.reconfigured: list[Any] = []

    async def reconfigure(self, section: Any) -> None:
        self.reconfigured.append(section)
        self.models = section


@service(config_section="models")
async def models_view(config: Config) -> AsyncIterator[ModelsView]:
    yield ModelsView(config.models)


def events(rt: Runtime, name: str) -> list[dict[str, Any]]:
    """The records called ``name`` in the runtime's JSON-lines log file, once flushed."""
    rt.logging.flush()
    assert rt.config.logging.file is not None
    lines = rt.config.logging.file.path.read_bytes().splitlines()
    return [record for record in map(orjson.loads, lines) if record["event"] == name]


async def wait_for(predicate: Any, within: float = 10.0) -> None:
    """Poll ``predicate`` until it holds; fail the test (not hang it) after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the state is changed by another task; polling is the test
            await asyncio.sleep(0.02)


async def test_reload_hands_changed_sections_to_services_that_reconfigure(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        await rt.services.add(models_view)
        view = rt.services.get(ModelsView)
        write_project(tmp_path, window=2000)
        result = await rt.reload()
        assert result.applied
        assert result.version == rt.config_version == 2
        assert "models.small.context_window" in [c.path for c in result.changes]
        assert result.reconfigured == ("models",)
        assert view.models["small"].context_window == 2000
        assert rt.config.models["small"].context_window == 2000


async def test_an_unchanged_file_keeps_the_version(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        result = await rt.reload()
        assert result.applied
        assert result.changes == ()
        assert rt.config_version == 1


async def test_an_invalid_edit_changes_nothing_and_logs_every_problem(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        path.write_text(path.read_text().replace("level: info", "level: chatty"), encoding="utf-8")
        (tmp_path / "models.yaml").write_text("small: {provider: nowhere}\n", encoding="utf-8")
        result = await rt.reload()
        assert not result.applied
        assert len(result.problems) == 2
        assert rt.config_version == 1
        assert rt.config.logging.level == "info"
        rejected = events(rt, "config_reload_rejected")
        assert len(rejected) == 1
        assert rejected[0]["level"] == "error"
        assert len(rejected[0]["problems"]) == 2


async def test_a_change_no_service_can_take_is_named_as_needing_a_restart(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        write_project(tmp_path, db="two.db")
        result = await rt.reload()
        assert result.applied
        assert result.restart_required == ("store.url",)
        warnings = events(rt, "config_change_needs_restart")
        assert len(warnings) == 1
        assert warnings[0]["paths"] == ["store.url"]


async def test_logging_changes_apply_without_restart(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        path.write_text(path.read_text().replace("level: info", "level: debug"), encoding="utf-8")
        result = await rt.reload()
        assert "logging" in result.reconfigured
        assert rt.config.logging.level == "debug"


@pytest.mark.parametrize("edit", ["main", "include"])
async def test_the_watcher_reloads_when_the_file_or_an_include_changes(tmp_path: Path, edit: str) -> None:
    path = write_project(tmp_path, watch=True)
    async with Runtime.open(path, plugins=False) as rt:
        await rt.services.add(models_view)
        await asyncio.sleep(0.3)  # let the watcher settle before the edit
        if edit == "main":
            path.write_text(path.read_text().replace("level: info", "level: warning"), encoding="utf-8")
            await wait_for(lambda: rt.config.logging.level == "warning")
        else:
            (tmp_path / "models.yaml").write_text(MODELS.format(window=4096), encoding="utf-8")
            await wait_for(lambda: rt.services.get(ModelsView).models["small"].context_window == 4096)
        assert rt.config_version == 2


async def test_the_watcher_survives_an_invalid_edit_and_applies_the_fix(tmp_path: Path) -> None:
    path = write_project(tmp_path, watch=True)
    good = path.read_text()
    async with Runtime.open(path, plugins=False) as rt:
        await asyncio.sleep(0.3)
        path.write_text(good.replace("level: info", "level: nope"), encoding="utf-8")
        await wait_for(lambda: bool(events(rt, "config_reload_rejected")))
        assert rt.config_version == 1
        path.write_text(good.replace("level: info", "level: error"), encoding="utf-8")
        await wait_for(lambda: rt.config.logging.level == "error")
        assert rt.config_version == 2


async def test_an_edit_to_provider_options_is_reported_as_pending_and_never_shown_as_applied(
    tmp_path: Path,
) -> None:
    path = write_project(tmp_path)
    text = path.read_text()
    path.write_text(text.replace("offline: {kind: local}", "offline: {kind: local, options: {latency: 0}}"))
    async with Runtime.open(path, plugins=False) as rt:
        path.write_text(text.replace("offline: {kind: local}", "offline: {kind: local, options: {latency: 5ms}}"))
        (tmp_path / "models.yaml").write_text(MODELS.format(window=2000), encoding="utf-8")
        result = await rt.reload()
        assert result.applied
        assert result.restart_required == ("providers.offline.options.latency",)
        assert "providers" not in result.reconfigured  # nothing of it was applied
        assert "models" in result.reconfigured
        # rt.config is what runs: the old options, the new model window; the rest is named as pending.
        assert rt.config.providers["offline"].options == {"latency": 0}
        assert rt.config.models["small"].context_window == 2000
        assert rt.pending_restart == ("providers.offline.options.latency",)
        assert rt.config_version == 2

        again = await rt.reload()  # still pending until a restart; nothing new applied
        assert again.restart_required == ("providers.offline.options.latency",)
        assert again.reconfigured == ()
        assert rt.config_version == 2
        assert rt.config.providers["offline"].options == {"latency": 0}


async def test_a_provider_guard_setting_applies_and_shows_in_the_config(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        path.write_text(path.read_text().replace("offline: {kind: local}", "offline: {kind: local, timeout: 5s}"))
        result = await rt.reload()
        assert result.restart_required == ()
        assert result.reconfigured == ("providers",)
        assert rt.config.providers["offline"].timeout == 5.0
        assert rt.pending_restart == ()


async def test_a_section_no_service_takes_stays_at_its_running_value(tmp_path: Path) -> None:
    path = write_project(tmp_path)
    async with Runtime.open(path, plugins=False) as rt:
        before = rt.config.store.url
        write_project(tmp_path, db="two.db")
        result = await rt.reload()
        assert result.restart_required == ("store.url",)
        assert rt.config.store.url == before
        assert rt.loaded_config.config.store.url.endswith("two.db")  # the file's value, pending
