"""What every command shares: the --config/--env options, error reporting, the console."""

from __future__ import annotations

import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from agentrt.config import Config, LoadedConfig

T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Configuration file. Default: $AGENTRT_CONFIG, else ./agentrt.yaml.",
        envvar="AGENTRT_CONFIG",
        show_default=False,
    ),
]
EnvOption = Annotated[
    str | None,
    typer.Option("--env", "-e", help="Environment overlay to apply. Default: $AGENTRT_ENV.", envvar="AGENTRT_ENV"),
]


def stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, *, status: int = 1) -> NoReturn:
    stderr().print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(status)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn agentrt's own errors into a readable message and exit status 1, without a traceback.

    A traceback helps with a bug in agentrt, not with a mistake in a config file.
    """
    from agentrt.errors import AgentRTError, ConfigError

    try:
        yield
    except ConfigError as err:
        console = stderr()
        count = len(err.problems)
        where = f" in {_escape(err.source)}" if err.source else ""
        console.print(f"[bold red]{count} configuration problem{'s' if count != 1 else ''}[/]{where}", markup=True)
        for problem in err.problems:
            console.print(f"  [red]-[/] {_escape(str(problem))}", markup=True)
        raise typer.Exit(1) from None
    except AgentRTError as err:
        fail(_escape(str(err)))


def load(config: Path | None, env: str | None) -> LoadedConfig:
    from agentrt.config import load_config

    return load_config(config, env=env)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a command; Ctrl-C ends it quietly with status 130."""
    import asyncio

    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise typer.Exit(130) from None


@contextmanager
def logging_to_stderr(cfg: Config) -> Iterator[None]:
    """The configured logging, on stderr whatever the configuration says: stdout is for the answer."""
    from agentrt.logging import configure_logging

    section = cfg.logging
    if section.console.stream != "stderr":
        section = section.model_copy(update={"console": section.console.model_copy(update={"stream": "stderr"})})
    handle = configure_logging(section, secrets=cfg.secret_values())
    try:
        yield
    finally:
        handle.close()
