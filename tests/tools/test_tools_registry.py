"""The tool registry: Python and built-in toolkits, selection by name and glob, raw calls, reloads, health."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from registry_support import SLOW_TOOLS, SUPPORT_TOOLS, write, write_config

from agentrt import Runtime
from agentrt.config import Config, load_config
from agentrt.config._tools import ToolkitSection
from agentrt.errors import ConfigError, RuntimeStateError, ToolArgumentsError, ToolError
from agentrt.tools.registry import ToolRegistry


def toolkits(data: Mapping[str, Any]) -> dict[str, ToolkitSection]:
    return Config.model_validate({"tools": data}).tools


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path / "tools" / "support.py", SUPPORT_TOOLS)
    write(tmp_path / "tools" / "slow.py", SLOW_TOOLS)
    return tmp_path


@pytest.fixture
async def registry(folder: Path) -> AsyncIterator[ToolRegistry]:
    path = write_config(
        folder,
        {
            "tools": {
                "support": {"python": "tools/support.py", "tools": {"refund": {"description": "Give money back"}}},
                "calc": {"builtin": "calculator"},
                "clock": {"builtin": "datetime", "exclude": ["add"]},
                "slow": {"python": "tools/slow.py", "timeout": "50ms"},
            }
        },
    )
    reg = ToolRegistry(load_config(path).config.tools)
    await reg.start()
    yield reg
    await reg.close()


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    """A package folder on sys.path, removed (with its modules) afterwards."""
    root = tmp_path / "site"
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in [n for n in sys.modules if n.startswith("h1pkg")]:
        del sys.modules[name]


async def test_a_python_file_next_to_the_config_gives_its_tools(registry: ToolRegistry) -> None:
    names = [info.full_name for info in registry.list()]
    assert names == [
        "calc.evaluate",
        "clock.now",
        "clock.convert",
        "slow.sleepy",
        "support.lookup_order",
        "support.refund",
    ]  # not_a_tool (a plain function) is not collected; clock.add is excluded
    lookup = registry.get("support.lookup_order")
    assert (lookup.toolkit, lookup.name, lookup.source) == ("support", "lookup_order", "python")
    assert lookup.description == "Look up an order."
    assert lookup.parameters["properties"]["order_id"]["description"] == "The order's id, e.g. A-1."
    assert registry.get("support.refund").description == "Give money back"  # the override wins
    output = await registry.call("support.lookup_order", {"order_id": "A-7"})
    assert output.text == '{"id":"A-7","status":"shipped"}'
    assert not output.is_error


async def test_select_takes_names_and_globs_each_tool_once(registry: ToolRegistry) -> None:
    chosen = registry.select(["support.refund", "support.*", "c*.evaluate"])
    assert [info.full_name for info in chosen] == ["support.refund", "support.lookup_order", "calc.evaluate"]
    assert [info.full_name for info in registry.select(["*"])] == [info.full_name for info in registry.list()]


async def test_a_pattern_that_matches_nothing_names_the_tools(registry: ToolRegistry) -> None:
    with pytest.raises(ToolError, match=r"no tool matches 'github\.\*': the tools are calc\.evaluate, clock\.now"):
        registry.select(["calc.*", "github.*"])
    with pytest.raises(ToolError, match=r"named toolkit\.tool"):
        registry.select(["calc"])
    with pytest.raises(ToolError, match=r"there is no tool 'clock\.add'"):
        await registry.call("clock.add", {"time": "2026-01-01T00:00:00"})  # excluded: not callable either


async def test_bad_arguments_and_timeouts_come_from_the_call(registry: ToolRegistry) -> None:
    with pytest.raises(ToolArgumentsError, match="order_id"):
        await registry.call("support.lookup_order", {"order": "A-1"})
    with pytest.raises(TimeoutError):
        await registry.call("slow.sleepy", {"seconds": 5})  # the toolkit's timeout: 50ms
    assert (await registry.call("slow.sleepy", {"seconds": 0.01})).text == "awake"
    with pytest.raises(TimeoutError):
        await registry.call("calc.evaluate", {"expression": "1"}, timeout=0)


async def test_settings_status_and_health(registry: ToolRegistry) -> None:
    assert registry.settings("slow.sleepy").timeout == 0.05
    assert registry.settings("calc.evaluate").timeout == 60.0
    assert {name: status.state for name, status in registry.status().items()} == dict.fromkeys(
        ["calc", "clock", "slow", "support"], "ready"
    )
    report = registry.health()
    assert report.healthy
    assert report.detail == "4 toolkits, 6 tools"


async def test_a_module_or_one_function_on_the_python_path(on_path: Path, tmp_path: Path) -> None:
    write(on_path / "h1pkg" / "__init__.py", "")
    write(on_path / "h1pkg" / "tools.py", SUPPORT_TOOLS)
    reg = ToolRegistry(
        toolkits({"orders": {"python": "h1pkg.tools"}, "plain": {"python": "h1pkg.tools:not_a_tool"}}),
        base_dir=tmp_path,
    )
    await reg.start()
    try:
        assert [i.full_name for i in reg.list()] == ["orders.lookup_order", "orders.refund", "plain.not_a_tool"]
        assert (await reg.call("plain.not_a_tool", {"x": "4"})).text == "4"  # a plain function made a tool
    finally:
        await reg.close()


@pytest.mark.parametrize(
    ("python", "message"),
    [
        ("tools/missing.py", "there is no file"),
        ("h1_no_such_module", "cannot import h1_no_such_module"),
        ("tools/support.py:nothing", "no attribute 'nothing'"),
        ("tools/support.py:CALLS", "is a list, not a function"),
        ("tools/empty.py", "has no tools: decorate its functions with @agentrt.tools.tool"),
        ("tools/broken.py", "running .*broken.py raised ZeroDivisionError"),
    ],
)
async def test_a_python_toolkit_that_cannot_give_tools_says_why(folder: Path, python: str, message: str) -> None:
    write(folder / "tools" / "empty.py", "X = 1\n")
    write(folder / "tools" / "broken.py", "1 / 0\n")
    reg = ToolRegistry(toolkits({"kit": {"python": python}}), base_dir=folder)
    with pytest.raises(ToolError, match=message) as caught:
        await reg.start()
    assert "toolkit 'kit'" in str(caught.value)


async def test_reconfigure_adds_removes_and_replaces_toolkits(folder: Path) -> None:
    reg = ToolRegistry(toolkits({"calc": {"builtin": "calculator"}, "clock": {"builtin": "datetime"}}), base_dir=folder)
    await reg.start()
    seen: list[int] = []
    reg.subscribe_changes(lambda: seen.append(len(reg.list())))
    calc_source = reg.source("calc")
    clock_source = reg.source("clock")
    try:
        await reg.reconfigure(
            toolkits(
                {
                    "calc": {"builtin": "calculator", "timeout": "5s"},  # governance only: same source
                    "clock": {"builtin": "datetime", "options": {"timezone": "Asia/Tokyo"}},  # a new source
                    "support": {"python": str(folder / "tools/support.py")},
                }
            )
        )
        assert reg.toolkits() == ("calc", "clock", "support")
        assert reg.source("calc") is calc_source
        assert reg.source("clock") is not clock_source
        assert clock_source.status().state == "stopped"
        assert reg.settings("calc.evaluate").timeout == 5.0
        assert "+09:00" in (await reg.call("clock.now", {})).text
        assert (await reg.call("support.refund", {"order_id": "B", "amount": 2})).text == "refunded 2.00 on B"

        await reg.reconfigure(toolkits({"calc": {"builtin": "calculator"}}))
        assert [i.full_name for i in reg.list()] == ["calc.evaluate"]
        with pytest.raises(ToolError, match=r"there is no tool 'support\.refund': the tools are calc\.evaluate"):
            await reg.call("support.refund", {"order_id": "B", "amount": 2})
        assert seen == [6, 1]  # each reload that changed the tools told the listener
    finally:
        await reg.close()


async def test_a_reload_that_fails_changes_nothing(folder: Path) -> None:
    reg = ToolRegistry(toolkits({"calc": {"builtin": "calculator"}}), base_dir=folder)
    await reg.start()
    try:
        with pytest.raises(ToolError, match="there is no file"):
            await reg.reconfigure(
                toolkits({"clock": {"builtin": "datetime"}, "bad": {"python": str(folder / "nope.py")}})
            )
        assert reg.toolkits() == ("calc",)
        assert (await reg.call("calc.evaluate", {"expression": "6*7"})).text == "42"
    finally:
        await reg.close()


async def test_a_closed_registry_refuses_use_and_closes_twice(folder: Path) -> None:
    reg = ToolRegistry(toolkits({"calc": {"builtin": "calculator"}}), base_dir=folder)
    await reg.start()
    source = reg.source("calc")
    await reg.close()
    await reg.close()
    assert source.status().state == "stopped"
    with pytest.raises(RuntimeStateError, match="tool registry is closed"):
        reg.list()
    assert not reg.health().healthy
    with pytest.raises(RuntimeStateError, match="already started"):
        await reg.start()


async def test_the_runtime_serves_the_registry_and_reloads_it(folder: Path) -> None:
    path = write_config(folder, {"tools": {"calc": {"builtin": "calculator"}}})
    async with Runtime.open(path, plugins=False) as rt:
        registry = rt.services.get(ToolRegistry)
        assert [i.full_name for i in registry.list()] == ["calc.evaluate"]
        health = await rt.services.health()
        assert health["tools"].healthy
        assert health["tools"].detail == "1 toolkits, 1 tools"
        write_config(folder, {"tools": {"calc": {"builtin": "calculator"}, "support": {"python": "tools/support.py"}}})
        result = await rt.reload()
        assert "tools" in result.reconfigured
        assert not result.restart_required
        assert "support.lookup_order" in [i.full_name for i in registry.list()]


async def test_without_a_tools_section_nothing_is_started(tmp_path: Path) -> None:
    async with Runtime.open(write_config(tmp_path, {}), plugins=False) as rt:
        registry = rt.services.get(ToolRegistry)
        assert registry.list() == []
        with pytest.raises(ToolError, match="no tools are configured"):
            registry.select(["calc.*"])


def test_only_the_sources_in_use_are_imported(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"tools": {"calc": {"builtin": "calculator"}}})
    script = f"""
import asyncio, sys
from agentrt import Runtime

async def main():
    async with Runtime.open({str(path)!r}, plugins=False) as rt:
        pass
    heavy = [m for m in ("mcp", "agentrt.tools.mcp", "agentrt.tools.builtins.http_get") if m in sys.modules]
    print("HEAVY", heavy)

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert "HEAVY []" in done.stdout


COUNTED_TOOLS = """
from pathlib import Path
from agentrt.tools import tool

Path(__file__).with_suffix(".runs").open("a").write("ran\\n")


@tool
def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"
"""


async def test_a_file_runs_once_per_version_and_a_reload_sees_its_changes(tmp_path: Path) -> None:
    module = write(tmp_path / "counted.py", COUNTED_TOOLS)
    runs = tmp_path / "counted.runs"
    path = write_config(tmp_path, {"tools": {"kit": {"python": "counted.py"}}})
    async with Runtime.open(path, plugins=False) as rt:
        registry = rt.services.get(ToolRegistry)
        assert runs.read_text().count("ran") == 1  # the start's checks and the registry share one run
        module.write_text(COUNTED_TOOLS.replace('"pong"', '"PONG!"'))
        write_config(tmp_path, {"tools": {"kit": {"python": "counted.py", "timeout": "9s"}}})
        await rt.reload()  # a governance change only: the source stays
        assert (await registry.call("kit.ping", {})).text == "pong"
        write_config(tmp_path, {"tools": {"kit": {"python": "counted.py:ping"}}})
        await rt.reload()  # a new source of the same file, which changed since it ran: it runs again
        assert (await registry.call("kit.ping", {})).text == "PONG!"
    assert runs.read_text().count("ran") == 2


async def test_start_checks_report_python_toolkit_problems_at_once(tmp_path: Path) -> None:
    write(tmp_path / "tools" / "support.py", SUPPORT_TOOLS)
    path = write_config(
        tmp_path,
        {
            "tools": {
                "support": {"python": "tools/support.py", "tools": {"lookup": {"approval": "required"}}},
                "gone": {"python": "tools/gone.py"},
            }
        },
    )
    with pytest.raises(ConfigError) as caught:
        async with Runtime.open(path, plugins=False):
            pass
    found = {problem.path: problem.message for problem in caught.value.problems}
    assert "has no tool 'lookup' (its tools: lookup_order, refund)" in found["tools.support.tools.lookup"]
    assert "there is no file" in found["tools.gone.python"]


async def test_the_toolset_of_a_selection_is_kept_until_the_tools_change(folder: Path) -> None:
    reg = ToolRegistry(toolkits({"calc": {"builtin": "calculator"}}), base_dir=folder)
    await reg.start()
    try:
        first = reg.toolset(["calc.*"])
        assert reg.toolset(["calc.*"]) is first
        assert first.names() == ("calc__evaluate",)
        await reg.reconfigure(
            toolkits({"calc": {"builtin": "calculator", "tools": {"evaluate": {"description": "Math"}}}})
        )
        again = reg.toolset(["calc.*"])
        assert again is not first
        assert again.specs()[0].description == "Math"
        assert await again.invoke("calc__evaluate", {"expression": "1+1"}) == "2"
    finally:
        await reg.close()


async def test_a_tool_needing_a_caller_supplied_parameter_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path / "needs.py",
        """
        from agentrt.tools import tool


        @tool(exclude=["db"])
        def lookup(order_id: str, db) -> str:
            "Look up with a database handle the caller passes."
            return order_id
        """,
    )
    reg = ToolRegistry(toolkits({"kit": {"python": str(tmp_path / "needs.py")}}), base_dir=tmp_path)
    with pytest.raises(ToolError, match=r"tool 'lookup' excludes db from the model's arguments.*give them defaults"):
        await reg.start()
