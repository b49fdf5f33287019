"""The ``tools`` section: one source per toolkit, clear errors, secrets hidden, paths next to the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from registry_support import write_config

from agentrt.config import Config, load_config, render_config
from agentrt.config._tools import HttpGetOptions, McpHttpSection, McpStdioSection
from agentrt.errors import ConfigError


def problems(data: dict[str, Any]) -> dict[str, str]:
    """``{dotted path: message}`` of every problem ``Config`` finds in ``data``."""
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(data)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


def agent(*tools: str) -> dict[str, Any]:
    return {"class": "myapp.agents:Support", "tools": list(tools)}


def test_each_kind_of_source_validates() -> None:
    config = Config.model_validate(
        {
            "tools": {
                "support": {"python": "tools/support.py:lookup_order", "approval": "required", "cost": 0.01},
                "calc": {"builtin": "calculator"},
                "web": {"builtin": "http_get", "options": {"allow_hosts": ["*.Example.com"], "max_bytes": "2MB"}},
                "gh": {"mcp": {"command": "gh-mcp", "args": ["--stdio"], "env": {"TOKEN": "t0ken-secret"}}},
                "search": {"mcp": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer xyz"}}},
            }
        }
    )
    tools = config.tools
    assert [tools[name].source_kind for name in tools] == ["python", "builtin", "builtin", "mcp", "mcp"]
    options = tools["web"].builtin_options()
    assert isinstance(options, HttpGetOptions)
    assert (options.allow_hosts, options.max_bytes, options.timeout, options.allow_private) == (
        ["*.example.com"],
        2_000_000,
        10.0,
        False,
    )
    assert isinstance(tools["gh"].mcp, McpStdioSection)
    assert isinstance(tools["search"].mcp, McpHttpSection)
    assert tools["support"].timeout == 60.0  # the default per-call timeout


def test_a_toolkit_has_exactly_one_source() -> None:
    found = problems({"tools": {"two": {"python": "a.b", "builtin": "calculator"}, "none": {"timeout": "5s"}}})
    assert "exactly one source, this one has python and builtin" in found["tools.two"]
    assert "needs a source: python" in found["tools.none"]


def test_an_unknown_builtin_lists_the_builtins() -> None:
    found = problems({"tools": {"x": {"builtin": "calc"}}})
    assert "'datetime', 'calculator' or 'http_get'" in found["tools.x.builtin"]


def test_bad_builtin_options_name_the_option_and_list_the_valid_ones() -> None:
    found = problems({"tools": {"web": {"builtin": "http_get", "options": {"max_bytes": "lots", "allow": []}}}})
    message = found["tools.web.options"]
    assert "max_bytes: invalid size 'lots'" in message
    assert "allow: Extra inputs are not permitted" in message
    assert "allow_hosts, allow_private, max_bytes, timeout" in message
    assert "options configure a built-in" in problems({"tools": {"x": {"python": "m", "options": {"a": 1}}}})["tools.x"]


def test_an_mcp_server_is_either_stdio_or_http() -> None:
    both = problems({"tools": {"x": {"mcp": {"command": "srv", "url": "http://127.0.0.1:1/mcp"}}}})
    neither = problems({"tools": {"x": {"mcp": {"args": ["a"]}}}})
    for found in (both, neither):
        assert "needs either command" in found["tools.x.mcp"]
    assert "https://" in problems({"tools": {"x": {"mcp": {"url": "ftp://host/mcp"}}}})["tools.x.mcp.http.url"]


def test_overrides_of_a_builtin_name_its_tools() -> None:
    found = problems({"tools": {"calc": {"builtin": "calculator", "tools": {"evaluat": {"cost": 1}}}}})
    assert "'evaluat'" in found["tools.calc"]
    assert "its tools: evaluate" in found["tools.calc"]


def test_governance_resolves_per_tool() -> None:
    section = Config.model_validate(
        {
            "tools": {
                "gh": {
                    "mcp": {"command": "x"},
                    "timeout": "20s",
                    "cost": 0.5,
                    "secret_fields": ["token"],
                    "tools": {"delete_repo": {"approval": "required", "secret_fields": ["name"], "timeout": "2s"}},
                }
            }
        }
    ).tools["gh"]
    plain = section.settings_for("search")
    special = section.settings_for("delete_repo")
    assert (plain.timeout, plain.approval, plain.cost, plain.secret_fields) == (20.0, "never", 0.5, {"token"})
    assert (special.timeout, special.approval, special.cost) == (2.0, "required", 0.5)
    assert special.secret_fields == {"token", "name"}


def test_agent_tools_must_name_existing_toolkits_and_builtin_tools() -> None:
    found = problems(
        {
            "tools": {"calc": {"builtin": "calculator"}, "gh": {"mcp": {"command": "x"}}},
            "agents": {"support": agent("calc.evaluate", "gh.search_*", "calc.evaluat", "nope.x", "gh", "*")},
        }
    )
    assert set(found) == {"agents.support.tools.2", "agents.support.tools.3", "agents.support.tools.4"}
    assert "matches no tool: the tools there are calc.evaluate" in found["agents.support.tools.2"]
    assert "names no toolkit (toolkits: calc, gh)" in found["agents.support.tools.3"]
    assert "write gh.* for all its tools" in found["agents.support.tools.4"]


def test_toolkit_names_cannot_hold_a_dot() -> None:
    assert "no dot" in problems({"tools": {"a.b": {"builtin": "calculator"}}})["tools.a.b"]


def test_mcp_env_and_headers_are_secrets(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "tools": {
                "gh": {"mcp": {"command": "gh-mcp", "env": {"GITHUB_TOKEN": "ghp-very-secret-1"}}},
                "search": {"mcp": {"url": "https://mcp.example.com/mcp", "headers": {"X-Key": "hdr-secret-2"}}},
            }
        },
    )
    loaded = load_config(path)
    shown = render_config(loaded.config)
    assert "ghp-very-secret-1" not in shown
    assert "hdr-secret-2" not in shown
    assert {"ghp-very-secret-1", "hdr-secret-2"} <= set(loaded.config.secret_values())


def test_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    path = write_config(
        folder,
        {
            "tools": {
                "support": {"python": "tools/support.py:lookup_order"},
                "mod": {"python": "myapp.tools"},
                "srv": {"mcp": {"command": "python", "args": ["server.py"]}},
                "srv2": {"mcp": {"command": "python", "cwd": "servers"}},
            }
        },
    )
    tools = load_config(path).config.tools
    assert tools["support"].python == f"{folder / 'tools/support.py'}:lookup_order"
    assert tools["mod"].python == "myapp.tools"  # a module is looked up on the Python path
    srv, srv2 = tools["srv"].mcp, tools["srv2"].mcp
    assert isinstance(srv, McpStdioSection)
    assert srv.cwd == folder
    assert isinstance(srv2, McpStdioSection)
    assert srv2.cwd == folder / "servers"


def test_the_loader_reports_tool_problems_with_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"tools": {"calc": {"builtin": "calculator"}}, "agents": {"a": agent("calc.nope")}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.path == "agents.a.tools[0]"
    assert problem.source is not None
    assert "agentrt.yaml:" in problem.source
