"""The checks the services make when they start, run on a loaded configuration without starting anything.

``agentrt config validate`` and ``Runtime.start`` both run them, so that a
configuration that validates also starts, and one that cannot start says why,
every problem at once with its dotted path and line, instead of a bare
``ValueError`` from the middle of a service:

- each provider: its kind is known (built in or a plugin's), and the kind's
  client accepts the section (its ``options``, its ``base_url``), by building
  the client exactly as the registry does at start, then closing it unused;
- each agent type: its class imports (relative to the config's folder, see
  :func:`config_import_path`) and is a usable ``Agent`` subclass;
- each Python toolkit: its module gives tools, and the tools agents name are there;
- each prompt: its template compiles and uses only its declared inputs (file:line).

Checks that need only the configuration (references, store and policy backend)
live in ``Config`` itself; these need the code of the parts.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from agentrt.errors import ConfigError, ConfigProblem, PluginError

if TYPE_CHECKING:
    from agentrt.config import Config, LoadedConfig

__all__ = ["check_startable", "config_import_path", "preflight_problems"]

_path_lock = threading.Lock()
_path_users: dict[str, int] = {}


@contextlib.contextmanager
def config_import_path(base_dir: Path) -> Iterator[None]:
    """Let ``module:Class`` references import modules that sit next to the config file.

    The folder is appended to ``sys.path`` (after everything else, so a file there
    never shadows an installed module) while at least one user holds it, the way
    ``python app.py`` finds the modules beside ``app.py``: no ``PYTHONPATH=.`` needed.
    """
    entry = str(base_dir.absolute())
    with _path_lock:
        count = _path_users.get(entry, 0)
        if count == 0 and entry in sys.path:
            count = -1  # already there before us: never ours to remove
        elif count == 0:
            sys.path.append(entry)
        _path_users[entry] = count + 1 if count >= 0 else count
    try:
        yield
    finally:
        with _path_lock:
            count = _path_users.get(entry, 0)
            if count > 1:
                _path_users[entry] = count - 1
            else:
                _path_users.pop(entry, None)
                if count == 1:
                    with contextlib.suppress(ValueError):
                        sys.path.remove(entry)


async def preflight_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    """Every problem the services would meet at start with this configuration; empty when none."""
    problems = [*await _provider_problems(loaded.config), *_agent_problems(loaded), *_prompt_problems(loaded)]
    problems += _tool_problems(loaded)
    return [
        problem if problem.source else ConfigProblem(problem.path, problem.message, loaded.source_of(problem.path))
        for problem in problems
    ]


async def check_startable(loaded: LoadedConfig) -> None:
    """Raise ``ConfigError`` listing every problem :func:`preflight_problems` finds."""
    problems = await preflight_problems(loaded)
    if problems:
        raise ConfigError(problems, source=str(loaded.path) if loaded.path else None)


async def _provider_problems(config: Config) -> list[ConfigProblem]:
    if not config.providers:
        return []
    from agentrt.providers import ProviderRegistry

    secrets = config.secret_values()
    problems: list[ConfigProblem] = []
    # One registry per provider, so that one bad provider does not hide the next one's problems.
    for name, section in config.providers.items():
        try:
            registry = ProviderRegistry({name: section})
        except ConfigError as err:
            problems.extend(_with_suggestion(problem, section.kind) for problem in err.problems)
        except PluginError as err:
            problems.append(ConfigProblem(f"providers.{name}.kind", _scrubbed(str(err), secrets)))
        except (TypeError, ValueError) as err:
            # A kind's own check that raised a plain error: still a problem of this provider.
            problems.append(ConfigProblem(f"providers.{name}", _scrubbed(f"{type(err).__name__}: {err}", secrets)))
        else:
            await registry.aclose()
    return problems


def _with_suggestion(problem: ConfigProblem, kind: str) -> ConfigProblem:
    """An unknown kind's problem, with the built-in kind it is closest to (``opneai``: ``openai``)."""
    if not problem.path.endswith(".kind"):
        return problem
    import difflib

    from agentrt.config._catalog import BUILTIN_PROVIDER_KINDS

    close = difflib.get_close_matches(kind, BUILTIN_PROVIDER_KINDS, n=1)
    if not close:
        return problem
    return ConfigProblem(problem.path, f"{problem.message}; did you mean {close[0]!r}?", problem.source)


def _agent_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    if not loaded.config.agents:
        return []
    from agentrt.agents.registry import agent_type_from_section

    problems: list[ConfigProblem] = []
    with config_import_path(loaded.base_dir):
        for name, section in loaded.config.agents.items():
            try:
                agent_type_from_section(name, section)
            except ConfigError as err:
                problems.extend(err.problems)
            except Exception as err:  # the module's own code failed as it was imported
                problems.append(
                    ConfigProblem(f"agents.{name}.class", f"importing it raised {type(err).__name__}: {err}")
                )
    return problems


def _prompt_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    """Each prompt template compiles, reads no other file and uses only its declared inputs."""
    if not loaded.config.prompts:
        return []  # no prompts: Jinja2 is not imported
    from agentrt.prompts._compile import compile_prompts

    return compile_prompts(loaded.config.prompts)[1]


def _tool_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    if not loaded.config.tools:
        return []
    from agentrt.tools._preflight import toolkit_problems

    with config_import_path(loaded.base_dir):
        return toolkit_problems(loaded.config, loaded.base_dir)


def _scrubbed(message: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        message = message.replace(secret, "**********")
    return message
