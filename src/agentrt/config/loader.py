"""``load_config``: from a file (and the files it includes) to a validated ``Config``.

The layers, lowest first: the file, the ``environments.<env>`` overlay,
``${VAR}`` interpolation, then ``AGENTRT__SECTION__KEY`` variables. Every problem
found on the way is collected and raised together in one ``ConfigError``, each
with its dotted path and where it came from (``agentrt.yaml:12``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from pydantic import ValidationError

from agentrt.config._layers import apply_env_vars, apply_overlay, interpolate, plain_copy
from agentrt.config._paths import format_path, parse_path, url_password, walk_secrets, walk_strings
from agentrt.config._problems import problems_from_validation, scrub
from agentrt.config._source import SCHEMA_KEY, Origins, Reader
from agentrt.config.schema import Config
from agentrt.errors import ConfigError, ConfigProblem

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "ENV_NAME_VAR",
    "ConfigSource",
    "LoadedConfig",
    "load_config",
]

CONFIG_ENV_VAR = "AGENTRT_CONFIG"
"""Names the config file when no source is given."""
ENV_NAME_VAR = "AGENTRT_ENV"
"""Selects the environment overlay when ``env=`` is not given."""
DEFAULT_CONFIG_FILE = "agentrt.yaml"

ConfigSource: TypeAlias = str | os.PathLike[str] | Mapping[str, Any] | Config | None
"""What ``load_config`` accepts: a file path, a mapping, a ready ``Config``, or None for the default file."""


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A validated config and where it came from.

    ``files`` holds the main file and every file it includes, as absolute paths: the
    set to watch for hot reload. ``path`` and ``files`` are empty when the config did
    not come from a file.
    """

    config: Config
    path: Path | None
    files: tuple[Path, ...]
    env: str | None
    origins: Origins | None = field(default=None, compare=False, repr=False)
    """Where each value came from (``agentrt.yaml:12``); None for a ready ``Config``."""

    @property
    def base_dir(self) -> Path:
        """The folder relative paths and agent modules resolve against: the main file's, else the working one."""
        return self.path.parent if self.path is not None else Path.cwd()

    def source_of(self, path: str) -> str | None:
        """Where the value at dotted ``path`` (``providers.p.kind``) came from, if known."""
        return self.origins.get(parse_path(path)) if self.origins is not None else None


def load_config(
    source: ConfigSource = None,
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Load, layer and validate a configuration; raise ``ConfigError`` listing every problem.

    ``source`` is a path to a ``.yaml``/``.yml``/``.json``/``.toml`` file, a mapping
    (relative paths and includes then resolve against the working directory), a
    ``Config`` (returned as is) or None: ``$AGENTRT_CONFIG``, else ``./agentrt.yaml``.
    ``env`` selects the overlay under ``environments`` (default ``$AGENTRT_ENV``).
    ``environ`` replaces ``os.environ`` for interpolation and variables (tests pass a dict).
    """
    if isinstance(source, Config):
        return LoadedConfig(config=source, path=None, files=(), env=env)
    environ = os.environ if environ is None else environ
    path: Path | None = None
    if isinstance(source, Mapping):
        reader = Reader(Path.cwd())
        data = plain_copy(source)
        data.pop(SCHEMA_KEY, None)
        reader.allow_from(data, reader.base_dir)
        data = reader.resolve_includes(data, (), reader.base_dir, ())
    else:
        path = _locate(source, environ)
        reader = Reader(path.parent)
        data = reader.read_file(path, main=True)
    label = str(path) if path else None
    if reader.fatal:
        raise ConfigError([*reader.fatal, *reader.problems], source=label)
    if data is None:
        data = {}  # an empty file is the all-defaults config
    if not isinstance(data, dict):
        top = ConfigProblem("", "the top level must be a mapping of sections (runtime, logging, ...)", label)
        raise ConfigError([top], source=label)

    problems = list(reader.problems)
    origins = reader.origins
    env_name = env if env is not None else environ.get(ENV_NAME_VAR)
    env_name = env_name or None
    if env_name is not None:
        problems.extend(_overlay(data, env_name, origins, from_var=env is None))
    data, unset = interpolate(data, environ, origins)
    applied, var_problems = apply_env_vars(data, environ, origins)
    for loc in [loc for loc in unset if any(loc[: len(set_)] == set_ for set_ in applied)]:
        del unset[loc]  # a variable replaced the value that named an unset one
    problems.extend(unset.values())
    problems.extend(var_problems)
    config: Config | None = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from_validation(exc, Config, origins, skip=unset))
    if problems or config is None:
        problems.sort(key=_in_file_order(reader.files, reader.display))
        raise ConfigError(scrub(_hide_foreign_keys(problems), _secrets(data)), source=label)
    base_dir = path.parent if path else Path.cwd()
    return LoadedConfig(
        config=config.resolve_paths(base_dir), path=path, files=tuple(reader.files), env=env_name, origins=origins
    )


def _locate(source: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    if source is not None:
        path, how = Path(os.fspath(source)), "the path given"
    elif environ.get(CONFIG_ENV_VAR):
        path, how = Path(environ[CONFIG_ENV_VAR]), f"from ${CONFIG_ENV_VAR}"
    else:
        path, how = Path(DEFAULT_CONFIG_FILE), "the default"
    path = path.expanduser().absolute()
    if path.is_dir():
        message = (
            f"{path} ({how}) is a directory: pass the config file itself, e.g. {path / DEFAULT_CONFIG_FILE}"
        )
    elif not path.exists():
        message = (
            f"config file not found: {path} ({how}): "
            "create one with `agentrt init`, or pass --config PATH"
            f"{'' if how.startswith('from') else f' or set ${CONFIG_ENV_VAR}'}"
        )
    else:
        return path
    raise ConfigError([ConfigProblem("", message)], source=str(path))


def _overlay(data: dict[str, Any], name: str, origins: Origins, *, from_var: bool) -> list[ConfigProblem]:
    environments = data.get("environments")
    known = sorted(str(key) for key in environments) if isinstance(environments, Mapping) else []
    source = f"env {ENV_NAME_VAR}" if from_var else None
    if name not in known:
        choice = f"known environments are {', '.join(known)}" if known else "no environments are declared"
        fix = (
            f"add environments.{name} to the config, or select one of those"
            if known
            else (f"add environments.{name} to the config, or select none")
        )
        return [ConfigProblem("environments", f"unknown environment {name!r}: {choice}; {fix}", source)]
    assert isinstance(environments, Mapping)
    overlay = environments[name]
    if isinstance(overlay, Mapping):
        apply_overlay(data, overlay, origins, ("environments", name))
    # Anything else is a type error that validation reports at environments.<name>.
    return []


def _in_file_order(
    files: list[Path], display: Callable[[Path], str]
) -> Callable[[ConfigProblem], tuple[int, int]]:
    """Sort key: problems in a file by file (main first) then line, then those from elsewhere."""
    rank = {display(path): index for index, path in enumerate(files)}

    def key(problem: ConfigProblem) -> tuple[int, int]:
        name, _, line = (problem.source or "").rpartition(":")
        if name in rank and line.isdigit():
            return rank[name], int(line)
        return len(rank), 0

    return key


# No configuration key looks like this; a line of a password, env or data file included by mistake does.
_FOREIGN_KEY = re.compile(r"[\s$*!\\\"'`;{}<>|]|^.{65,}$")
_HIDDEN_KEY = "<key not shown>"


def _hide_foreign_keys(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """The problems with keys that cannot be configuration replaced: their file and line point at them.

    A file included by mistake (``/etc/shadow``, a ``.env``) becomes keys whose text is
    its content; a problem must name where it is, never repeat it.
    """
    out: list[ConfigProblem] = []
    for problem in problems:
        loc = parse_path(problem.path)
        foreign = [key for key in loc if isinstance(key, str) and _FOREIGN_KEY.search(key)]
        if not foreign:
            out.append(problem)
            continue
        message = problem.message
        for key in foreign:
            message = message.replace(key, _HIDDEN_KEY)
        path = format_path(tuple(_HIDDEN_KEY if key in foreign else key for key in loc))
        out.append(ConfigProblem(path, message, problem.source))
    return out


def _secrets(data: dict[str, Any]) -> list[str]:
    """Every secret value in raw data, to scrub from messages whatever path produced them."""
    found = [value for _, value in walk_secrets(data) if isinstance(value, str)]
    found.extend(password for text in walk_strings(data) if "@" in text and (password := url_password(text)))
    return found
