"""What validates, starts: prices, includes kept inside the project, URLs and the JSON Schema."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrt.config import load_config
from agentrt.errors import ConfigError, ConfigProblem

Write = Callable[[str, str], Path]


def _problems(source: object, **kwargs: object) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config(source, environ={}, **kwargs)  # type: ignore[arg-type]
    return list(info.value.problems)


def _with_models(models: dict[str, object]) -> dict[str, object]:
    return {"providers": {"p": {"kind": "local"}}, "models": models}


# --- prices ------------------------------------------------------------------------------


def test_a_price_with_input_only_is_refused_rather_than_pricing_output_at_zero() -> None:
    [problem] = _problems(_with_models({"m": {"provider": "p", "pricing": {"input": 1}}}))
    assert problem.path == "models.m.pricing"
    assert "give both" in problem.message


def test_a_price_with_output_only_is_refused_too() -> None:
    [problem] = _problems(_with_models({"m": {"provider": "p", "pricing": {"output": 2}}}))
    assert "gives output but not input" in problem.message


def test_a_free_model_says_so_with_zero_prices() -> None:
    config = load_config(
        _with_models({"m": {"provider": "p", "pricing": {"input": 0, "output": 0}}}), environ={}
    ).config
    assert config.models["m"].pricing is not None
    assert config.models["m"].pricing.output == 0


# --- includes stay inside the project -----------------------------------------------------


def test_an_include_by_absolute_path_outside_the_folder_is_refused(write: Write, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("leaked_line_one: 1\n", encoding="utf-8")
    try:
        main = write("project/agentrt.yaml", f"models: !include {outside}\n")
        [problem] = _problems(main)
    finally:
        outside.unlink()
    assert problem.path == "models"
    assert "outside the project folder" in problem.message
    assert "runtime.include_paths" in problem.message
    assert "leaked_line_one" not in str(problem)


def test_an_include_with_dotdot_is_refused(write: Write) -> None:
    write("secret.yaml", "p: {kind: local}\n")
    main = write("project/agentrt.yaml", "providers: {include: ../secret.yaml}\n")
    [problem] = _problems(main)
    assert "outside the project folder" in problem.message


def test_a_symlink_out_of_the_folder_is_refused_and_its_content_never_shown(write: Write, tmp_path: Path) -> None:
    target = write("elsewhere/shadow", "root:$6$secrethash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    main = write("project/agentrt.yaml", "models: !include models.yaml\n")
    os.symlink(target, tmp_path / "project" / "models.yaml")
    [problem] = _problems(main)
    assert "outside the project folder" in problem.message
    assert "secrethash" not in str(problem)
    assert "19000" not in problem.message


def test_includes_in_subfolders_and_symlinks_inside_the_folder_still_work(write: Write, tmp_path: Path) -> None:
    write("project/conf/models.yaml", "m: {provider: p}\n")
    os.symlink(tmp_path / "project" / "conf" / "models.yaml", tmp_path / "project" / "models.yaml")
    main = write("project/agentrt.yaml", "providers: {p: {kind: local}}\nmodels: !include models.yaml\n")
    assert set(load_config(main, environ={}).config.models) == {"m"}


def test_runtime_include_paths_allows_a_folder_outside_the_project(write: Write, tmp_path: Path) -> None:
    write("shared/providers.yaml", "p: {kind: local}\n")
    main = write(
        "project/agentrt.yaml",
        "runtime: {include_paths: [../shared]}\nproviders: !include ../shared/providers.yaml\n",
    )
    loaded = load_config(main, environ={})
    assert set(loaded.config.providers) == {"p"}
    assert loaded.config.runtime.include_paths == [tmp_path / "shared"]


def test_include_paths_from_an_included_file_do_not_widen_the_allowlist(write: Write) -> None:
    write("shared/providers.yaml", "p: {kind: local}\n")
    write("project/runtime.yaml", "include_paths: [../shared]\n")
    main = write(
        "project/agentrt.yaml", "runtime: !include runtime.yaml\nproviders: !include ../shared/providers.yaml\n"
    )
    problems = _problems(main)
    assert any("outside the project folder" in p.message for p in problems)


def test_a_mapping_source_keeps_includes_inside_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "x.yaml").write_text("p: {kind: local}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "w")
    [problem] = _problems({"providers": {"include": "../x.yaml"}})
    assert "outside the project folder" in problem.message


def test_a_file_that_is_no_configuration_never_has_its_lines_printed(write: Write) -> None:
    # Inside the folder, by mistake: a password file included where models belong.
    write("project/shadow.yaml", "root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n")
    main = write("project/agentrt.yaml", "models: !include shadow.yaml\n")
    problems = _problems(main)
    assert [problem.source for problem in problems] == ["shadow.yaml:1", "shadow.yaml:2"]
    for problem in problems:
        text = str(problem)
        assert "hashhash" not in text
        assert "19000" not in text
        assert "not shown" in problem.path


def test_ordinary_model_names_are_still_shown_in_problems() -> None:
    models = {"llama3:8b": {"provider": "nobody"}, "meta/llama-3.1": {"provider": "p", "x": 1}}
    problems = _problems(_with_models(models))
    assert {problem.path for problem in problems} == {'models["llama3:8b"].provider', 'models["meta/llama-3.1"].x'}
