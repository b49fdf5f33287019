"""load_config: formats, includes, interpolation, layers, and how problems are reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agentrt.config import Config, LoadedConfig, load_config
from agentrt.errors import ConfigError, ConfigProblem

Write = Callable[[str, str], Path]  # the `write` fixture of conftest.py


def _problems(source: object, **kwargs: object) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config(source, **kwargs)  # type: ignore[arg-type]
    return list(info.value.problems)


def _by_path(problems: list[ConfigProblem]) -> dict[str, ConfigProblem]:
    return {problem.path: problem for problem in problems}


# --- formats -------------------------------------------------------------------------


def test_yaml(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        runtime: {name: desk, shutdown_timeout: 10s}
        providers:
          offline: {kind: local}
        models:
          tiny: {provider: offline}
        """,
    )
    loaded = load_config(path, environ={})
    assert isinstance(loaded, LoadedConfig)
    assert loaded.config.runtime.name == "desk"
    assert loaded.config.runtime.shutdown_timeout == 10.0
    assert loaded.path == path
    assert loaded.files == (path,)
    assert loaded.env is None


def test_yml_json_and_toml_give_the_same_config(write: Write) -> None:
    yml = write("a.yml", "runtime: {name: desk}\nserver: {port: 9000, max_body: 1MB}\n")
    as_json = write(
        "b.json", json.dumps({"runtime": {"name": "desk"}, "server": {"port": 9000, "max_body": "1MB"}})
    )
    toml = write(
        "c.toml",
        """
        [runtime]
        name = "desk"

        [server]
        port = 9000
        max_body = "1MB"
        """,
    )
    configs = [load_config(path, environ={}).config for path in (yml, as_json, toml)]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0].server.max_body == 1_000_000


def test_a_mapping_source_and_a_config_source() -> None:
    loaded = load_config({"runtime": {"name": "from-dict"}}, environ={})
    assert loaded.config.runtime.name == "from-dict"
    assert loaded.path is None
    assert loaded.files == ()
    config = Config()
    assert load_config(config).config is config


def test_an_empty_file_is_the_default_config(write: Write) -> None:
    assert load_config(write("agentrt.yaml", ""), environ={}).config.runtime == Config().runtime


def test_default_path_and_agentrt_config_variable(
    write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write("agentrt.yaml", "runtime: {name: default-file}\n")
    other = write("other.yaml", "runtime: {name: from-variable}\n")
    assert load_config(environ={}).config.runtime.name == "default-file"
    assert load_config(environ={"AGENTRT_CONFIG": str(other)}).config.runtime.name == "from-variable"


def test_a_missing_file_says_which_path_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    [problem] = _problems(None, environ={})
    assert str(tmp_path / "agentrt.yaml") in problem.message
    assert "agentrt init" in problem.message
    assert "--config" in problem.message
    [problem] = _problems(None, environ={"AGENTRT_CONFIG": "/nowhere/x.yaml"})
    assert "/nowhere/x.yaml" in problem.message
    assert "AGENTRT_CONFIG" in problem.message
    [problem] = _problems(tmp_path, environ={})
    assert "is a directory" in problem.message


def test_unsupported_suffix(write: Write) -> None:
    [problem] = _problems(write("agentrt.ini", "[runtime]\n"), environ={})
    assert ".yaml, .yml, .json or .toml" in problem.message


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("bad.yaml", "runtime:\n  name: x\nlogging: [info\nserver: {}\n", 4),
        ("bad.json", '{\n  "runtime": {"name": "x"},\n  "server": {"port": 80,}\n}\n', 3),
        ("bad.toml", '[runtime]\nname = "x"\nshutdown_timeout = \n', 3),
        ("control.yaml", "runtime:\n  name: \x01\n", 2),
    ],
)
def test_a_syntax_error_is_one_problem_with_its_line(write: Write, name: str, text: str, line: int) -> None:
    [problem] = _problems(write(name, text), environ={})
    assert problem.source == f"{name}:{line}"
    assert problem.message.startswith("invalid ")


def test_a_syntax_error_does_not_quote_the_line(write: Write) -> None:
    path = write("agentrt.yaml", "providers:\n  p: {kind: openai, api_key: sk-very-secret: oops}\n")
    [problem] = _problems(path, environ={})
    assert "sk-very-secret" not in str(problem)


def test_json_and_toml_problems_have_lines(write: Write) -> None:
    as_json = write("agentrt.json", '{\n  "runtime": {\n    "name": "x",\n    "watch": "often"\n  }\n}\n')
    assert _by_path(_problems(as_json, environ={}))["runtime.watch"].source == "agentrt.json:4"
    toml = write(
        "agentrt.toml",
        """
        [runtime]
        name = "x"

        [[policies.limits]]
        scope = "user"
        rpm = 5

        [[policies.limits]]
        scope = "tenant"
        rpm = "many"

        [policies.limits.extra]
        """,
    )
    problems = _by_path(_problems(toml, environ={}))
    assert problems["policies.limits[1].rpm"].source == "agentrt.toml:10"
    assert problems["policies.limits[1].extra"].source == "agentrt.toml:12"


def test_yaml_oddities(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        defaults: &retry {attempts: 5}
        """,
    )
    assert "unknown key 'defaults'" in _problems(path, environ={})[0].message
    path = write(
        "agentrt.yaml",
        """
        providers:
          a: {kind: local, retry: {attempts: 5, backoff: 1s}}
          b:
            kind: local
            retry:
              <<: {attempts: 7, backoff: 2s}
              attempts: 9
        logging:
          levels: {no: debug, 1: info}
        """,
    )
    config = load_config(path, environ={}).config
    assert (config.providers["b"].retry.attempts, config.providers["b"].retry.backoff) == (9, 2.0)
    assert config.logging.levels == {"no": "debug", "1": "info"}  # keys stay names


def test_secrets_stay_text_as_written(write: Write) -> None:
    path = write("agentrt.yaml", "providers:\n  p: {kind: openai, api_key: 0x1f, headers: {X-Id: 0012}}\n")
    provider = load_config(path, environ={}).config.providers["p"]
    assert provider.api_key is not None
    assert provider.api_key.get_secret_value() == "0x1f"
    assert provider.headers["X-Id"].get_secret_value() == "0012"


def test_a_duplicated_key_is_a_problem(write: Write) -> None:
    path = write("agentrt.yaml", "runtime:\n  name: a\n  name: b\n")
    [problem] = _problems(path, environ={})
    assert problem.path == "runtime.name"
    assert problem.source == "agentrt.yaml:3"
    assert "first at line 2" in problem.message


def test_unknown_tags_are_refused(write: Write) -> None:
    [problem] = _problems(write("agentrt.yaml", "runtime: !!python/object:os.system {}\n"), environ={})
    assert "!include" in problem.message


# --- all problems at once, with file and line --------------------------------------------


def test_five_mistakes_make_five_problems_each_with_file_and_line(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        runtime:
          name: desk
          shutdown_timout: 30s
        logging:
          level: loud
        providers:
          openai:
            kind: openai
            timeout: soon
        models:
          gpt:
            provider: opnai
        server:
          port: 99999
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    error = info.value
    assert [(p.path, p.source) for p in error.problems] == [
        ("runtime.shutdown_timout", "agentrt.yaml:3"),
        ("logging.level", "agentrt.yaml:5"),
        ("providers.openai.timeout", "agentrt.yaml:9"),
        ("models.gpt.provider", "agentrt.yaml:12"),
        ("server.port", "agentrt.yaml:14"),
    ]
    text = str(error)
    assert text.startswith(f"invalid configuration in {path}: 5 problems")
    assert "pydantic" not in text
    assert "http" not in text
    assert "did you mean 'shutdown_timeout'" in text
    assert "did you mean 'openai'" in text
    assert "500ms" in text  # the accepted duration forms


def test_a_missing_required_key_points_at_its_section(write: Write) -> None:
    path = write("agentrt.yaml", "providers:\n  openai:\n    api_key: abc\n")
    [problem] = _problems(path, environ={})
    assert problem.path == "providers.openai.kind"
    assert problem.message == "missing required key 'kind'"
    assert problem.source == "agentrt.yaml:2"


def test_wrong_shapes_are_described_without_values(write: Write) -> None:
    path = write("agentrt.yaml", "logging: verbose\nserver: {api_keys: {key: x}}\n")
    problems = _by_path(_problems(path, environ={}))
    assert problems["logging"].message == "expected a mapping of keys to values, got text"
    assert problems["server.api_keys"].message == "expected a list, got a mapping"


def test_the_top_level_must_be_a_mapping(write: Write) -> None:
    [problem] = _problems(write("agentrt.yaml", "- a\n- b\n"), environ={})
    assert "top level must be a mapping" in problem.message


# --- includes ------------------------------------------------------------------------------


def test_includes_by_tag_and_by_mapping_nested_and_relative(write: Write, tmp_path: Path) -> None:
    main = write(
        "agentrt.yaml",
        """
        providers: !include conf/providers.yaml
        models: {include: conf/models.yaml}
        """,
    )
    providers = write("conf/providers.yaml", "offline: {kind: local}\nopenai: !include secret/openai.yaml\n")
    openai = write("conf/secret/openai.yaml", "kind: openai\ntimeout: 5s\n")
    models = write("conf/models.yaml", "small: {provider: offline}\n")
    loaded = load_config(main, environ={})
    assert set(loaded.config.providers) == {"offline", "openai"}
    assert loaded.config.providers["openai"].timeout == 5.0
    assert loaded.config.models["small"].provider == "offline"
    assert loaded.files == (main, providers, openai, models)
    assert all(path.is_absolute() for path in loaded.files)


def test_problems_in_included_files_name_those_files(write: Write) -> None:
    main = write("agentrt.yaml", "runtime: {name: x}\nmodels: !include models.yaml\n")
    write("models.yaml", "a:\n  provider: nobody\n  context_window: -1\n")
    problems = _by_path(_problems(main, environ={}))
    assert problems["models.a.provider"].source == "models.yaml:2"
    assert problems["models.a.context_window"].source == "models.yaml:3"


def test_a_json_config_can_include_yaml_and_toml(write: Write) -> None:
    main = write(
        "agentrt.json", json.dumps({"providers": {"include": "p.toml"}, "models": {"include": "m.yaml"}})
    )
    write("p.toml", '[offline]\nkind = "local"\n')
    write("m.yaml", "tiny: {provider: offline}\n")
    assert load_config(main, environ={}).config.models["tiny"].provider == "offline"


def test_a_missing_include_names_the_file_and_the_chain(write: Write) -> None:
    main = write("agentrt.yaml", "models: !include a.yaml\n")
    write("a.yaml", "x: !include b.yaml\n")
    [problem] = _problems(main, environ={})
    assert problem.path == "models.x"
    assert problem.source == "a.yaml:1"
    assert "b.yaml not found" in problem.message
    assert "agentrt.yaml -> a.yaml" in problem.message


def test_an_include_cycle_is_reported_with_its_chain(write: Write) -> None:
    main = write("agentrt.yaml", "models: !include a.yaml\n")
    write("a.yaml", "x: {include: agentrt.yaml}\n")
    [problem] = _problems(main, environ={})
    assert "include cycle agentrt.yaml -> a.yaml -> agentrt.yaml" in problem.message
    assert problem.source == "a.yaml:1"


def test_include_of_a_list_is_refused(write: Write) -> None:
    [problem] = _problems(write("agentrt.yaml", "models: !include [a.yaml]\n"), environ={})
    assert "takes a file name" in problem.message


# --- interpolation --------------------------------------------------------------------------


def test_interpolation_with_defaults_several_per_string_and_escapes(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        runtime:
          name: ${APP:-desk}-${STAGE}
        server:
          port: ${PORT:-8080}
          host: ${HOST:-}
        providers:
          p: {kind: openai, api_key: ${KEY}, base_url: "https://$${NOT_A_VAR}/${EMPTY:-v1}"}
        """,
    )
    config = load_config(path, environ={"STAGE": "prod", "KEY": "sk-1", "EMPTY": ""}).config
    assert config.runtime.name == "desk-prod"
    assert config.server.port == 8080
    assert config.server.host == ""
    assert config.providers["p"].api_key is not None
    assert config.providers["p"].api_key.get_secret_value() == "sk-1"
    assert config.providers["p"].base_url == "https://${NOT_A_VAR}/v1"


def test_an_unset_variable_names_the_variable_path_and_line(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        providers:
          openai:
            kind: openai
            api_key: ${OPENAI_API_KEY}
        """,
    )
    [problem] = _problems(path, environ={})
    assert problem.path == "providers.openai.api_key"
    assert problem.source == "agentrt.yaml:4"
    assert "OPENAI_API_KEY is not set" in problem.message
    assert "${OPENAI_API_KEY:-" in problem.message


def test_a_malformed_reference_is_a_problem(write: Write) -> None:
    [problem] = _problems(write("agentrt.yaml", "runtime: {name: 'a-${oops'}\n"), environ={})
    assert problem.path == "runtime.name"
    assert "malformed" in problem.message


def test_variables_in_unselected_environments_are_not_needed(write: Write) -> None:
    path = write(
        "agentrt.yaml", "environments:\n  prod: {providers: {p: {kind: openai, api_key: '${PROD_KEY}'}}}\n"
    )
    assert load_config(path, environ={}).config.providers == {}


# --- layers: file, environment overlay, variables ---------------------------------------------


def test_precedence_file_then_environment_then_variables(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        runtime:
          name: from-file
          shutdown_timeout: 10s
          watch: false
        logging:
          level: info
          console: {format: logfmt}
        server:
          port: 8000
        environments:
          prod:
            runtime: {shutdown_timeout: 20s, watch: true}
            logging: {console: {format: json}}
            server: {port: 9000}
        """,
    )
    environ = {
        "AGENTRT_ENV": "prod",
        "AGENTRT__SERVER__PORT": "9100",
        "AGENTRT__RUNTIME__WATCH": "false",
        "AGENTRT__LOGGING__LEVELS": "{agentrt.providers: debug}",
        "AGENTRT__LOGGING__REDACT": "[password, token]",
    }
    loaded = load_config(path, environ=environ)
    config = loaded.config
    assert loaded.env == "prod"
    assert config.runtime.name == "from-file"  # the file alone
    assert config.runtime.shutdown_timeout == 20.0  # the overlay over the file
    assert config.logging.level == "info"  # a sibling the overlay did not touch
    assert config.logging.console.format == "json"
    assert config.runtime.watch is False  # the variable over the overlay
    assert config.server.port == 9100
    assert config.logging.levels == {"agentrt.providers": "debug"}
    assert config.logging.redact == ["password", "token"]
    assert (
        load_config(path, env="prod", environ={"AGENTRT_ENV": "dev"}).config.server.port == 9000
    )  # env= wins


def test_problems_point_at_the_layer_that_set_the_value(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        server: {port: 8000}
        environments:
          prod:
            logging:
              level: loud
        """,
    )
    problems = _by_path(_problems(path, env="prod", environ={"AGENTRT__SERVER__PORT": "lots"}))
    assert problems["logging.level"].source == "agentrt.yaml:5"
    assert problems["server.port"].source == "env AGENTRT__SERVER__PORT"


def test_an_unknown_environment_lists_the_known_ones(write: Write) -> None:
    path = write("agentrt.yaml", "environments: {dev: {}, prod: {}}\n")
    [problem] = _problems(path, environ={"AGENTRT_ENV": "staging"})
    assert "unknown environment 'staging'" in problem.message
    assert "dev, prod" in problem.message
    assert problem.source == "env AGENTRT_ENV"


def test_variables_reach_list_elements_and_replace_nulls(write: Write) -> None:
    path = write(
        "agentrt.yaml",
        """
        logging: {file: null}
        policies:
          limits: [{scope: user, rpm: 5}]
        """,
    )
    environ = {"AGENTRT__POLICIES__LIMITS__0__RPM": "50", "AGENTRT__LOGGING__FILE__PATH": "/tmp/x.jsonl"}
    config = load_config(path, environ=environ).config
    assert config.policies.limits[0].rpm == 50
    assert config.logging.file is not None
    assert config.logging.file.path == Path("/tmp/x.jsonl")


def test_a_variable_replaces_a_value_that_named_an_unset_variable(write: Write) -> None:
    path = write("agentrt.yaml", "providers:\n  p: {kind: openai, api_key: '${MISSING}'}\n")
    environ = {"AGENTRT__PROVIDERS__P__API_KEY": "0x1f"}
    key = load_config(path, environ=environ).config.providers["p"].api_key
    assert key is not None
    assert key.get_secret_value() == "0x1f"  # secrets stay text, never read as YAML numbers


def test_a_variable_that_cannot_be_applied_is_a_problem(write: Write) -> None:
    path = write("agentrt.yaml", "runtime: {name: x}\n")
    [problem] = _problems(path, environ={"AGENTRT__RUNTIME__NAME__FIRST": "y"})
    assert problem.source == "env AGENTRT__RUNTIME__NAME__FIRST"
    assert "runtime.name is not a mapping" in problem.message


def test_relative_paths_resolve_against_the_config_files_directory(write: Write, tmp_path: Path) -> None:
    path = write(
        "conf/agentrt.yaml", "logging: {file: {path: logs/a.jsonl}}\nstore: {url: 'sqlite:///a.db'}\n"
    )
    config = load_config(path, environ={}).config
    assert config.logging.file is not None
    assert config.logging.file.path == tmp_path / "conf/logs/a.jsonl"
    assert config.store.url == f"sqlite:///{tmp_path}/conf/a.db"


def test_the_input_mapping_is_not_modified() -> None:
    data = {"server": {"port": 1}, "environments": {"dev": {"server": {"port": 2}}}}
    load_config(data, env="dev", environ={})
    assert data == {"server": {"port": 1}, "environments": {"dev": {"server": {"port": 2}}}}


def test_an_unquoted_off_means_off_in_a_file_and_in_a_variable(tmp_path: Path) -> None:
    path = tmp_path / "agentrt.yaml"
    path.write_text("logging:\n  console: {format: off}\n", encoding="utf-8")
    assert load_config(path, environ={}).config.logging.console.format == "off"
    path.write_text("logging:\n  console: {format: logfmt}\n", encoding="utf-8")
    loaded = load_config(path, environ={"AGENTRT__LOGGING__CONSOLE__FORMAT": "off"})
    assert loaded.config.logging.console.format == "off"
