"""Start refuses what validation refuses, with every problem at once; agent modules next to the config import."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentrt import ConfigError, Runtime
from agentrt.runtime import RuntimeState

QUIET = "logging: {console: {format: 'off'}}\n"


async def test_start_lists_every_provider_problem_instead_of_a_bare_service_failure(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.yaml"
    path.write_text(
        QUIET
        + "store: {url: 'memory://'}\n"
        + "providers:\n  typo: {kind: opneai}\n  ant: {kind: anthropic, options: {max_tokens: 0}}\n",
        encoding="utf-8",
    )
    rt = Runtime.open(path, plugins=False)
    with pytest.raises(ConfigError) as info:
        await rt.start()
    paths = {problem.path for problem in info.value.problems}
    assert paths == {"providers.typo.kind", "providers.ant.options.max_tokens"}
    assert {problem.source for problem in info.value.problems} == {"agentrt.yaml:4", "agentrt.yaml:5"}
    assert rt.state is RuntimeState.CLOSED


async def test_an_agent_class_next_to_the_config_starts_without_pythonpath(tmp_path: Path) -> None:
    module = "h7_agents_beside_config"
    (tmp_path / f"{module}.py").write_text(
        "from agentrt.agents import Agent\n\n"
        "class Echo(Agent[dict]):\n"
        "    async def handle(self, activity, ctx):\n"
        "        return activity.payload\n",
        encoding="utf-8",
    )
    path = tmp_path / "agentrt.yaml"
    path.write_text(
        QUIET + "store: {url: 'memory://'}\nagents:\n  echo: {class: '" + module + ":Echo'}\n", encoding="utf-8"
    )
    assert str(tmp_path) not in sys.path
    try:
        async with Runtime.open(path, plugins=False) as rt:
            assert "echo" in rt.config.agents
            assert str(tmp_path) in sys.path
        assert str(tmp_path) not in sys.path  # the folder is only on the path while a runtime needs it
    finally:
        sys.modules.pop(module, None)
