"""The start checks of the ``tools`` section that need the toolkits' code (see ``agentrt._preflight``).

``Config`` checks what the configuration alone tells: toolkit names, and
``agents.<type>.tools`` against toolkit names and built-in tools. Here the
Python toolkits are loaded, as the registry will load them, so that a module
that cannot give tools, an override of a tool it does not have, or an agent
naming a tool that is not there is reported by ``agentrt config validate`` and
before anything starts. MCP toolkits are not started: their tools are known
only once their servers run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path

from agentrt.config import Config
from agentrt.config._tools import BUILTIN_TOOLS, ToolkitSection, split_tool_pattern
from agentrt.errors import ConfigProblem, ToolError

__all__ = ["toolkit_problems"]


def toolkit_problems(config: Config, base_dir: Path) -> list[ConfigProblem]:
    """Every problem of the Python toolkits and of the agents' tool names they make checkable."""
    problems: list[ConfigProblem] = []
    known: dict[str, list[str] | None] = {}  # tool names by toolkit; None: known only when it runs (MCP)
    for name, section in config.tools.items():
        names = _tool_names(name, section, base_dir, problems)
        known[name] = None if names is None else [tool for tool in names if section.exposes(tool)]
        if section.python is not None and names is not None:
            for tool in section.tools:
                if tool not in names:
                    problems.append(
                        ConfigProblem(
                            f"tools.{name}.tools.{tool}",
                            f"toolkit {name!r} has no tool {tool!r} (its tools: {', '.join(names) or 'none'})",
                        )
                    )
    for agent, spec in config.agents.items():
        for index, pattern in enumerate(spec.tools):
            message = _pattern_problem(pattern, known)
            if message:
                problems.append(ConfigProblem(f"agents.{agent}.tools[{index}]", message))
    return problems


def _tool_names(name: str, section: ToolkitSection, base_dir: Path, problems: list[ConfigProblem]) -> list[str] | None:
    if section.builtin is not None:
        return list(BUILTIN_TOOLS[section.builtin][1])
    if section.python is None:
        return None
    from agentrt.tools._python_source import load_python_tools

    try:
        return [tool.name for tool in load_python_tools(name, section.python, base_dir)]
    except ToolError as err:
        problems.append(ConfigProblem(f"tools.{name}.python", str(err)))
        return []


def _pattern_problem(pattern: str, known: Mapping[str, list[str] | None]) -> str | None:
    toolkit_glob, tool_glob = split_tool_pattern(pattern)
    matched = [name for name in known if fnmatch.fnmatchcase(name, toolkit_glob)]
    if not matched or not tool_glob or any(known[name] is None for name in matched):
        return None  # no toolkit: Config said so already; an MCP toolkit: checked when it runs
    available = [f"{name}.{tool}" for name in matched for tool in known[name] or ()]
    if any(fnmatch.fnmatchcase(full, pattern) for full in available):
        return None
    return f"{pattern!r} matches no tool: the tools there are {', '.join(available) or 'none'}"
