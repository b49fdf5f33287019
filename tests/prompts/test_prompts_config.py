"""The prompts section at load: forms, input declarations, defaults, and template problems with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt import Runtime
from agentrt.config import load_config
from agentrt.errors import ConfigError


def write(root: Path, prompts_yaml: str, **files: str) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    path = root / "agentrt.yaml"
    path.write_text(f"logging: {{console: {{format: 'off'}}}}\nprompts:\n{prompts_yaml}", encoding="utf-8")
    return path


def problems_of(err: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(problem) for problem in err.value.problems]


async def start_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        async with Runtime.open(path, plugins=False):
            pass
    return problems_of(err)


def test_a_default_that_does_not_match_its_type_is_a_config_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  p:\n    inputs:\n      n: {type: int, default: three}\n      tags: {type: list, items: str, default: [1]}\n"
        "    user: '{{ n }} {{ tags }}'\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    found = problems_of(err)
    assert any("prompts.p.inputs.n" in p and "the default must be an integer, got text" in p for p in found), found
    assert any("prompts.p.inputs.tags" in p and "the default[0] must be text" in p for p in found), found
    assert all("agentrt.yaml:" in p for p in found), found


def test_unknown_type_two_forms_no_form_and_bad_input_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  a: {inputs: {x: {type: text}}, user: '{{ x }}'}\n"
        "  b: {user: hi, messages: [{role: user, content: hi}]}\n"
        "  c: {description: nothing}\n"
        "  d: {inputs: {'bad-name': str}, user: hi}\n"
        "  e: {inputs: {range: int}, user: hi}\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    found = "\n".join(problems_of(err))
    assert "unknown input type 'text': use str, int" in found
    assert "a prompt takes one form of template, and this one has system/user and messages" in found
    assert "a prompt needs its template" in found
    assert "input name 'bad-name' cannot be used in a template" in found
    assert "would hide the template's own 'range'" in found


async def test_a_syntax_error_in_a_template_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  triage: {inputs: {ticket: str}, file: prompts/triage.j2}\n",
        **{"prompts/triage.j2": "{% block user %}\nline two\n{{ ticket }\n{% endblock %}\n"},
    )
    found = await start_problems(path)
    assert len(found) == 1
    assert "triage.j2:3" in found[0], found
    assert "template syntax error" in found[0]


async def test_inline_syntax_error_names_the_config_line_and_the_template_line(tmp_path: Path) -> None:
    path = write(tmp_path, "  p:\n    user: |\n      ok\n      {% if %}\n")
    found = await start_problems(path)
    assert len(found) == 1
    assert "prompts.p.user" in found[0]
    assert "agentrt.yaml:" in found[0]
    assert "line 2 of the template" in found[0]


async def test_undeclared_variables_and_other_files_are_refused_at_start(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "  p: {inputs: {ticket: str}, user: '{{ tickt }} {% set y = 1 %}{{ y }}'}\n"
        "  q: {user: \"{% include 'secret.txt' %}\"}\n"
        "  r: {file: r.j2}\n"
        "  s: {file: s.j2}\n"
        "  t: {file: missing.j2}\n",
        **{
            "r.j2": "preamble lost\n{% block system %}x{% endblock %}",
            "s.j2": "{% block user %}u{% endblock %}{% block footer %}f{% endblock %}",
        },
    )
    found = "\n".join(await start_problems(path))
    assert "the template uses 'tickt', which is not a declared input (did you mean 'ticket'?)" in found
    assert "'y'" not in found  # set by the template itself
    assert "{% include %} reads another template" in found
    assert "r.j2:1" in found
    assert "outside {% block system %} and {% block user %} would be lost" in found
    assert "block 'footer' is not a message" in found
    assert "missing.j2 not found" in found


def test_relative_files_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path, "  p: {file: prompts/p.j2}\n", **{"prompts/p.j2": "hi"})
    loaded = load_config(path)
    assert loaded.config.prompts["p"].file == tmp_path / "prompts" / "p.j2"
